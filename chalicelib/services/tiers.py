"""Tiers (会员等级) from configuration (`chalicelib/config/tiers.json`)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.members import Member
from chalicelib.domain.tiers import Tier, highest, tier_for_growth, upgrade
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


def ladder() -> tuple[Tier, ...]:
    return tuple(Tier(str(tier["code"]), int(tier["min_growth"])) for tier in all_tiers())


def upgraded_tier(current: str, growth: int) -> str | None:
    """The tier `growth` earns when it is above `current` (upgrades only)."""
    return upgrade(ladder(), current, growth)


def merged_tier(survivor: Member, merged: Member) -> str:
    """A merged member keeps the better of both tiers, or what the combined growth earns."""
    rules = ladder()
    earned = tier_for_growth(rules, survivor.growth + merged.growth)
    return highest(rules, survivor.tier_code, merged.tier_code, earned)


def tier_events(cause_id: str, member: Member, code: str, previous: str, occurred_at: str) -> list[DomainEvent]:
    """`tier.changed` (from `previous` to `code`) for the member, and `task.work_mark_tag` when
    a WeChat Work contact serves them. Ids derive from the write that changed the tier
    (`<entry id>#<kind>`), so a replay re-publishes the same ids."""
    data = {
        "tier_code": code,
        "tier_name": tier_name(code),
        "previous_tier_code": previous,
        "previous_tier_name": tier_name(previous),
        "growth": member.growth,
    }
    events = [DomainEvent(f"{cause_id}#tier.changed", "tier.changed", member.member_id, occurred_at, data)]
    if member.work_external_userid:
        userids = sorted(member.work_follow_users)
        task = {
            "member_id": member.member_id,
            "external_userid": member.work_external_userid,
            "userid": userids[0] if userids else None,
            "userids": userids,
            "tier_code": code,
            "previous_tier_code": previous,
        }
        kind = "task.work_mark_tag"
        events.append(DomainEvent(f"{cause_id}#{kind}", kind, member.member_id, occurred_at, task))
    return events
