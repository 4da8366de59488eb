from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.stack import bare_env as make_bare_env


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    return make_bare_env(tmp_path)
