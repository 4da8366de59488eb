"""Every Lambda imports app.py: heavy libraries must stay off that path (timed in `make bench`;
this guards it deterministically)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEPT_OFF = ("pydantic", "jwt", "wechatpy", "requests", "cryptography", "aws_xray_sdk")


def test_importing_the_app_loads_no_heavy_library() -> None:
    probe = f"import sys, app; print(' '.join(m for m in {KEPT_OFF!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "", f"imported at cold start: {loaded.stdout.strip()}"
