"""`make run` as a person starts it: every process, demo data through HTTP, a self-check, a clean stop."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
from pathlib import Path

from chalicelib.settings import SECRET_NAMES, read_secrets_file
from tests.e2e.stack import PORT_VARIABLES

ROOT = Path(__file__).resolve().parents[2]


def test_local_stack_starts_loads_demo_through_http_reconciles_and_drains_events(
    tmp_path: Path, bare_env: dict[str, str]
) -> None:
    # Given a machine with no AWS account and no secrets, and free ports (bare_env)
    env = bare_env

    # When the stack checks itself
    result = subprocess.run(
        [sys.executable, "-m", "local.run", "--check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    # Then the demo member has points, the fake WeChat was called, the books balance, a job's
    # event was drained by the worker through the real events handler, and all stopped
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "self-check passed" in result.stdout
    assert "0 mismatch(es) in all members" in result.stdout
    assert "queues {'events': 0, 'dlq': 0}" in result.stdout
    secrets_file = tmp_path / "secrets.env"
    assert set(read_secrets_file(str(secrets_file))) == set(SECRET_NAMES)
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    for port in (env[name] for name in PORT_VARIABLES):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", int(port))) != 0, (
                f"port {port} still answers: a child outlived the stack"
            )
