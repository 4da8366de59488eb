"""Tier (会员等级) names from configuration. Tier rules arrive with the tiers feature."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from chalicelib.settings import get_settings


@lru_cache(maxsize=4)
def _tiers(path: str) -> dict[str, str]:
    return {tier["code"]: tier["name"] for tier in json.loads(Path(path).read_text(encoding="utf-8"))}


def tier_name(code: str) -> str:
    return _tiers(get_settings().tiers_file).get(code, code)
