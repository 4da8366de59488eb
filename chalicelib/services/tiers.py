"""Tiers (会员等级) of the programme in force, growth value (成长值) in its window, and the
tier events. The review (保级) itself is the job `jobs/tier_review.py`.

Before an operator publishes a programme, its tiers are the deployment's configuration
(`chalicelib/config/tiers.json`, services/programme.py `configured()`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.clock import local_date, utc_now
from chalicelib.domain import tier_review
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.ledger import RefundMark
from chalicelib.domain.members import Member
from chalicelib.domain.tiers import (
    Tier,
    TierState,
    add_growth,
    highest,
    merge_buckets,
    month_key,
    next_tier,
    tier_for_growth,
    upgrade,
    window_growth,
    yuan_for_growth,
)
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.domain.programme import Programme, TierBenefits


@lru_cache(maxsize=4)
def _tiers(path: str) -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(Path(path).read_text(encoding="utf-8")))


def configured_tiers() -> tuple[dict[str, Any], ...]:
    """The tiers of the deployment's configuration (the tiers file): the programme's until an
    operator publishes one (services/programme.py), and the codes the OpenAPI document lists."""
    return _tiers(get_settings().tiers_file)


def rules() -> Programme:
    from chalicelib.services import programme

    return programme.current()


def all_tiers() -> tuple[dict[str, Any], ...]:
    """Every tier of the programme in force, lowest first: code, name, min_growth,
    birthday_gift_points, work_tag_id."""
    return tuple(
        {
            "code": tier.code,
            "name": tier.name,
            "min_growth": tier.min_growth,
            "birthday_gift_points": tier.benefits.birthday_points,
            "work_tag_id": tier.work_tag_id,
        }
        for tier in rules().tiers
    )


def tier_config(code: str) -> dict[str, Any]:
    """One tier's configuration; an unknown code gets the lowest tier's benefits."""
    tiers = all_tiers()
    return next((tier for tier in tiers if tier["code"] == code), tiers[0])


def tier_name(code: str) -> str:
    found = rules().tier(code)
    return found.name if found else code


def ladder() -> tuple[Tier, ...]:
    return tuple(Tier(tier.code, tier.min_growth, tier.keep_growth) for tier in rules().tiers)


def today() -> date:
    return local_date(utc_now(), get_settings().timezone)


def upgraded_tier(current: str, growth: int) -> str | None:
    """The tier `growth` (in the programme's window) earns when it is above `current`."""
    return upgrade(rules().tiers, current, growth)


def growth_after(
    member: Member, growth: int, month: str | None, day: date, programme: Programme
) -> tuple[str | None, TierState]:
    """An order's growth (成长值) into its month, and what it does to the tier: an upgrade when
    the window's growth crosses a threshold (the review calendar starts again from `day`), a
    review date for a member found above the lowest tier without one."""
    policy, tiers = programme.tier_policy, programme.tiers
    state = replace(member.tier_state, growth_months=add_growth(member.tier_state.growth_months, month, growth, day))
    in_window = window_growth(state.growth_months, member.growth + growth, policy.window, day)
    raised = upgrade(tiers, member.tier_code, in_window) if growth > 0 else None
    if raised is not None:
        return raised, tier_review.after_upgrade(state, policy, day)
    return None, tier_review.with_review(state, tiers, member.tier_code, policy, day)


def growth_moved(
    member: Member, delta: int, month: str | None, day: date, *, refund: RefundMark | None = None
) -> TierState:
    """Growth moved without a tier decision: a refund takes back from its order's month, other
    growth goes into `month` (default: the day's)."""
    if month is None:
        month = refunded_month(refund.order_entry_id) if refund else month_key(day) if delta > 0 else None
    buckets = add_growth(member.tier_state.growth_months, month, delta, day)
    return replace(member.tier_state, growth_months=buckets)


def refunded_month(order_entry_id: str) -> str | None:
    """The month an order's growth went into: recorded on its entry (`growth_month`), or, for
    orders from before, the month it was paid in (the brand's calendar)."""
    from chalicelib.store import points_repo

    order = points_repo.get_entry(order_entry_id)
    if order is None:
        return None
    if order.detail.get("growth_month"):
        return str(order.detail["growth_month"])
    paid_at = order.detail.get("paid_at")
    return month_key(local_date(datetime.fromisoformat(str(paid_at)), get_settings().timezone)) if paid_at else None


def merged_tier(survivor: Member, merged: Member, day: date | None = None) -> str:
    """A merged member keeps the better of both tiers, or what the combined growth earns in
    the programme's window."""
    programme = rules()
    buckets = merge_buckets(survivor.tier_state.growth_months, merged.tier_state.growth_months)
    lifetime = survivor.growth + merged.growth
    earned = tier_for_growth(
        programme.tiers, window_growth(buckets, lifetime, programme.tier_policy.window, day or today())
    )
    return highest(programme.tiers, survivor.tier_code, merged.tier_code, earned)


def tier_events(cause_id: str, member: Member, code: str, previous: str, occurred_at: str) -> list[DomainEvent]:
    """`tier.changed` (from `previous` to `code`, up or down) for the member, and
    `task.work_mark_tag` when a WeChat Work contact serves them. Ids derive from the write
    that changed the tier (`<entry id>#<kind>`), so a replay re-publishes the same ids."""
    tiers = rules().tiers
    direction = "up" if highest(tiers, code, previous) == code else "down"
    data = {
        "tier_code": code,
        "tier_name": tier_name(code),
        "previous_tier_code": previous,
        "previous_tier_name": tier_name(previous),
        "growth": member.growth,
        "direction": direction,
        **_texts("tier.changed", direction, {"tier_name": tier_name(code)}),
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


def keep_text(growth_needed: int, growth_per_yuan: int) -> str:
    """What is still missing to keep the tier, as the member reads it: 再消费 ¥1,280 即可保级."""
    yuan = yuan_for_growth(growth_needed, growth_per_yuan)
    if yuan is None:
        return _texts("tier.review_warning", "growth", {"growth": f"{growth_needed:,}"})["keep_text"]
    return _texts("tier.review_warning", "spend", {"yuan": f"{yuan:,}"})["keep_text"]


def _texts(kind: str, variant: str, data: dict[str, Any]) -> dict[str, str]:
    """The member-facing texts of an event variant (notify_templates.zh-CN.json `texts`)."""
    from chalicelib.notify import templates

    spec = templates.template(kind) or {}
    texts = spec.get("texts", {}).get(variant, {})
    return {key: templates.render(str(text), data) for key, text in texts.items()}


@dataclass(frozen=True)
class Goal:
    """A growth target: its threshold, what is still missing, and the spend that makes it up."""

    growth: int
    growth_needed: int
    yuan_needed: int | None


@dataclass(frozen=True)
class NextTier:
    code: str
    name: str
    goal: Goal


@dataclass(frozen=True)
class TierStatus:
    """A member's tier as the member sees it (`GET /v1/me`)."""

    code: str
    name: str
    window: str
    growth: int
    lifetime_growth: int
    next_tier: NextTier | None
    keep_goal: Goal | None
    review_on: date | None
    benefits: TierBenefits | None


def status(member: Member, day: date) -> TierStatus:
    programme = rules()
    policy, state = programme.tier_policy, member.tier_state
    growth = window_growth(state.growth_months, member.growth, policy.window, day)
    above = next_tier(programme.tiers, member.tier_code)
    current = programme.tier(member.tier_code)
    following = (
        NextTier(above.code, above.name, _goal(above.min_growth, growth, policy.growth_per_yuan)) if above else None
    )
    keep_goal = None
    if state.review_on is not None and current is not None:
        measured = tier_review.measured_growth(state, member.growth, policy, state.review_on)
        keep_goal = _goal(current.growth_to_keep, measured, policy.growth_per_yuan)
    return TierStatus(
        code=member.tier_code,
        name=tier_name(member.tier_code),
        window=policy.window,
        growth=growth,
        lifetime_growth=member.growth,
        next_tier=following,
        keep_goal=keep_goal,
        review_on=state.review_on,
        benefits=current.benefits if current else None,
    )


def _goal(threshold: int, growth: int, per_yuan: int) -> Goal:
    needed = max(threshold - growth, 0)
    return Goal(threshold, needed, yuan_for_growth(needed, per_yuan))
