"""The published contract: schemathesis generates requests from `GET /openapi.json` of the
running local stack and sends them as each caller would (tests/contract/hooks.py). Every answer
must be documented (no 5xx, no status the operation does not list, bodies and content types as
declared), a request the schema allows must not be refused as malformed, and one it forbids
must not be accepted (tests/contract/schemathesis.toml).

Deterministic and bounded in `make test` (about a minute with the stack start); `make soak`
(WXM_SOAK=1) runs a seeded fuzzing phase of many more examples. Schemathesis's CLI, not its
pytest plugin: the plugin does not work with pytest 9.2 (pyproject.toml disables it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.contract.conftest import RunningStack

ROOT = Path(__file__).resolve().parents[2]
SOAK = bool(os.environ.get("WXM_SOAK"))
SEED = "20261122"
# Coverage (every operation's boundaries, missing parts, wrong types and media types) is the
# same in both; fuzzing draws 10 examples per operation and mode in `make test`, 500 in soak.
# Operations that end the run's own credentials (sign out, revoke, close the member's account):
# the rest of the run would meet only 401s. Their contracts are in the integration tests.
SELF_ENDING = ("/admin/auth/logout", "/admin/operators/{operator_id}/sessions/revoke", "/v1/me/deletion")
GENERATION = ["--seed", SEED, "-n", "500"] if SOAK else ["--generation-deterministic", "-n", "10"]
TIMEOUT = 3600 if SOAK else 600


def test_every_operation_answers_as_its_published_contract_says(local_stack: RunningStack, tmp_path: Path) -> None:
    # Given the stack `make run` starts, its demo data, and the run's callers and seeded records
    env = {
        **os.environ,
        "WXM_API": local_stack.api_url,
        "LOCAL_DIR": str(local_stack.secrets_file.parent),
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        "PYTHONPATH": str(ROOT),
    }
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(ROOT / "tests" / "contract" / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{local_stack.api_url}/openapi.json",
        *GENERATION,
        "--workers",
        "1",  # one request at a time, in a fixed order: the same run every time
        "--request-timeout",
        "10",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
        *(arg for path in SELF_ENDING for arg in ("--exclude-path", path)),
    ]

    # When schemathesis runs every operation through its coverage and fuzzing phases
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)

    # Then every answer is one the document promises
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20_000:]
    selected, tested = re.search(r"Selected: (\d+)/(\d+)", output), re.search(r"Tested: (\d+)", output)
    assert selected and tested and tested[1] == selected[1], "every selected operation is tested"
    assert int(selected[2]) - int(selected[1]) == len(SELF_ENDING), "only the self-ending operations are left out"
