"""The local stack `make run` starts, for the contract tests: every process, demo data loaded.

`WXM_API=http://127.0.0.1:8000 pytest tests/contract` checks a stack you already run instead
(its secrets from `$LOCAL_DIR/secrets.env`, default `.local/`, as `local/pos_call.py` reads them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local.demo import load_demo
from local.run import ROOT, Stack
from tests.e2e.stack import bare_env


@dataclass(frozen=True)
class RunningStack:
    api_url: str
    secrets_file: Path


@pytest.fixture(autouse=True)
def pinned_clock() -> Iterator[None]:
    """Replaces the suite's pinned clock: the stack runs on the real one, and POS signatures
    must carry a timestamp it accepts."""
    from chalicelib import clock

    clock.unpin()
    yield


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    if os.environ.get("WXM_API"):
        local_dir = Path(os.environ.get("LOCAL_DIR", ROOT / ".local"))
        yield RunningStack(os.environ["WXM_API"], local_dir / "secrets.env")
        return
    local_dir = tmp_path_factory.mktemp("contract-stack")
    stack_env = bare_env(local_dir)
    # The stack's children take their environment from ours when the Stack is made: nothing of
    # the test session's (endpoint, table prefix, secrets) may reach them.
    with pytest.MonkeyPatch.context() as env:
        for name in list(os.environ):
            env.delenv(name)
        for name, value in stack_env.items():
            env.setenv(name, value)
        stack = Stack(local_dir, check=True)
    try:
        stack.start()
        load_demo(stack.url("api"), stack.secrets_file, stack.operators_file)
        yield RunningStack(stack.url("api"), stack.secrets_file)
    finally:
        stack.stop()
