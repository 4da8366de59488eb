"""Tiers (会员等级) from configuration (`chalicelib/config/tiers.json`)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.settings import get_settings


@lru_cache(maxsize=4)
def _tiers(path: str) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(Path(path).read_text(encoding="utf-8")))


def all_tiers() -> tuple[dict[str, Any], ...]:
    """Every tier, lowest first: code, name, min_growth, birthday_gift_points, work_tag_id."""
    return _tiers(get_settings().tiers_file)


def tier_config(code: str) -> dict[str, Any]:
    """One tier's configuration; an unknown code gets the lowest tier's benefits."""
    tiers = all_tiers()
    return next((tier for tier in tiers if tier["code"] == code), tiers[0])


def tier_name(code: str) -> str:
    return next((str(tier["name"]) for tier in all_tiers() if tier["code"] == code), code)
