"""The bench report: every bench module adds rows; one table is printed and bench/results.json
written when the session ends (tests/bench/conftest.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ROWS: list[dict[str, Any]] = []


def row(name: str, measured: float | str, target: str, ok: bool, **detail: Any) -> None:
    """One figure. A missed target is reported as MISS, not failed."""
    ROWS.append({"name": name, "measured": measured, "target": target, "status": "PASS" if ok else "MISS", **detail})


def write_report() -> None:
    if not ROWS:
        return
    width = max(len(r["name"]) for r in ROWS)
    print("\n\nwxmember benchmarks\n" + "-" * (width + 40))
    for r in ROWS:
        print(f"{r['name']:<{width}}  {str(r['measured']):>12}  target {r['target']:<16} {r['status']}")
    results = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "rows": ROWS}
    (ROOT / "bench").mkdir(exist_ok=True)
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
