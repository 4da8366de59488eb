"""`make run` as a person starts it: every process, demo data through HTTP, a self-check, a clean stop."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from local.processes import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_local_stack_starts_loads_demo_and_reconciles(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WECHAT_", "TABLE_PREFIX"))}
    env.update(
        LOCAL_DIR=str(tmp_path),
        LOCAL_AWS_PORT=str(free_port()),
        LOCAL_WECHAT_PORT=str(free_port()),
        LOCAL_API_PORT=str(free_port()),
    )
    for name in ("JWT_SECRET", "PHONE_ENC_KEY", "PHONE_HASH_KEY", "WECHAT_MINI_SECRET", "POS_CLIENTS", "OPERATORS"):
        env.pop(name, None)  # the stack must work from its generated secrets file alone
    result = subprocess.run(
        [sys.executable, "-m", "local.run", "--check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "self-check passed" in result.stdout
    assert "0 mismatch(es) in all members" in result.stdout
    assert (tmp_path / "secrets.env").exists()
