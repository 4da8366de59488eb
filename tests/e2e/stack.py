"""The local stack as a developer's machine has it: no AWS account, no secrets, free ports."""

from __future__ import annotations

import os
from pathlib import Path

from chalicelib.settings import SECRET_NAMES
from local.processes import free_port

PORT_VARIABLES = ("LOCAL_AWS_PORT", "LOCAL_WECHAT_PORT", "LOCAL_API_PORT", "LOCAL_WORKER_PORT", "LOCAL_WECHATPAY_PORT")


def bare_env(local_dir: Path) -> dict[str, str]:
    """Nothing inherited may help the stack (the test session's AWS endpoint, table prefix and
    secrets are dropped); free ports and a private .local let it run beside `make run`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "WECHAT_", "TABLE_PREFIX", "SECRETS_"))}
    for name in SECRET_NAMES:
        env.pop(name, None)
    env.update(LOCAL_DIR=str(local_dir), **{name: str(free_port()) for name in PORT_VARIABLES})
    return env
