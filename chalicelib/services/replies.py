"""Passive replies to official-account messages (被动回复), from configuration
(`chalicelib/config/wechat_replies.zh-CN.json`, `WECHAT_REPLIES_FILE`), never from code."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.domain.points import PointsLot
from chalicelib.notify.templates import render
from chalicelib.settings import get_settings


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return loaded


def _texts() -> dict[str, Any]:
    return _load(get_settings().wechat_replies_file)


def _links() -> dict[str, str]:
    return {"mini_appid": get_settings().wechat_mini_appid, "fallback_url": str(_texts().get("fallback_url", ""))}


def points_keywords() -> frozenset[str]:
    return frozenset(str(word) for word in _texts().get("points_keywords", ()))


def welcome(registered: bool) -> str:
    """New followers are invited to register in the mini-program; registered members welcomed back."""
    return render(str(_texts()["welcome_back" if registered else "welcome"]), _links())


def points(tier_name: str, balance: int, debt: int, next_expiry: PointsLot | None) -> str:
    texts = _texts()
    if next_expiry is not None:
        expiry = render(
            str(texts["points_expiring"]), {"points": next_expiry.remaining, "date": next_expiry.expires_on}
        )
    else:
        expiry = str(texts["points_no_expiry"])
    if debt:
        expiry += "\n" + render(str(texts["points_debt"]), {"debt": debt})
    return render(str(texts["points"]), {"tier_name": tier_name, "balance": max(balance, 0), "expiry": expiry})
