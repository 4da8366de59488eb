"""Tier review (保级): when a member's tier is looked at again, what keeps it, and where it goes.

An upgrade (or a member found on a tier with no review yet) sets the review `review_months`
after that day. Before it, `warning_days` ahead, the member is told what is still missing
(once per review). At the review the growth of the window that closed the day before the
review date decides: it reaches the tier's keep threshold (`growth_to_keep`) and the tier
stays, or the tier goes down one step or to the tier the growth keeps (`downgrade`), but
never within `protection_days` of an upgrade. The review day is the scheduled one, also
when the job runs late, so every run decides the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from chalicelib.domain.tiers import (
    Rung,
    TierState,
    add_months,
    lowest,
    merge_buckets,
    ordered,
    rank,
    rung,
    tier_for_growth,
    window_growth,
)

if TYPE_CHECKING:  # pydantic stays off the cold-start path (the ledger imports this module)
    from chalicelib.domain.programme import TierPolicy

ONE_DAY = timedelta(days=1)


class ReviewAction(StrEnum):
    NOTHING = "nothing"  # not due (the index lagged, or another run did it)
    CHECKED = "checked"  # warning time, and the growth already keeps the tier: no message
    WARN = "warn"
    KEEP = "keep"
    PROTECTED = "protected"  # upgraded too recently: the review moves to the protection's end
    DOWN = "down"
    CLEAR = "clear"  # on the lowest tier: nothing to review


@dataclass(frozen=True)
class Review:
    action: ReviewAction
    tier_code: str
    state: TierState
    growth: int = 0  # in the window the review measures
    growth_needed: int = 0  # still missing to keep the tier (a warning's figure)


def due_on(review_on: date | None, warned_for: date | None, warning_days: int, today: date) -> date | None:
    """The warning's day while the warning for this review is still to come (never today:
    a fresh upgrade is not warned about the same day), else the review's day."""
    if review_on is None:
        return None
    if warning_days > 0 and warned_for != review_on:
        return min(max(review_on - timedelta(days=warning_days), today + ONE_DAY), review_on)
    return review_on


def scheduled(state: TierState, policy: TierPolicy, today: date) -> TierState:
    """The state with its next due day worked out again."""
    return replace(state, due_on=due_on(state.review_on, state.warned_for, policy.warning_days, today))


def after_upgrade(state: TierState, policy: TierPolicy, today: date) -> TierState:
    """A new tier: reviewed `review_months` from today, protected from today."""
    review_on = add_months(today, policy.review_months)
    return scheduled(replace(state, review_on=review_on, upgraded_on=today, warned_for=None), policy, today)


def with_review(state: TierState, ladder: Sequence[Rung], tier_code: str, policy: TierPolicy, today: date) -> TierState:
    """A member above the lowest tier with no review yet (a tier from before reviews existed,
    an import, a merge) gets one `review_months` from today; the lowest tier has none."""
    if tier_code == lowest(ladder):
        return _cleared(state) if state.review_on or state.due_on else state
    if state.review_on is None:
        return scheduled(replace(state, review_on=add_months(today, policy.review_months)), policy, today)
    return state


def measured_growth(state: TierState, lifetime: int, policy: TierPolicy, review_on: date) -> int:
    """The growth the review on `review_on` will count: the window closing the day before."""
    return window_growth(state.growth_months, lifetime, policy.window, review_on - ONE_DAY)


def keep_growth(ladder: Sequence[Rung], tier_code: str) -> int | None:
    found = rung(ladder, tier_code)
    return None if found is None else found.growth_to_keep


def review(
    ladder: Sequence[Rung], policy: TierPolicy, tier_code: str, state: TierState, lifetime: int, day: date
) -> Review:
    """What the review job does for a member on `day` (see the module's docstring)."""
    if state.due_on is None or state.due_on > day:
        return Review(ReviewAction.NOTHING, tier_code, state)
    if tier_code == lowest(ladder):
        return Review(ReviewAction.CLEAR, tier_code, _cleared(state))
    review_on = state.review_on or state.due_on
    if review_on > day:
        return _warning(ladder, policy, tier_code, state, lifetime, review_on)
    protected_until = state.upgraded_on + timedelta(days=policy.protection_days) if state.upgraded_on else None
    if protected_until is not None and review_on < protected_until:
        if protected_until > day:
            moved = scheduled(replace(state, review_on=protected_until), policy, day)
            return Review(ReviewAction.PROTECTED, tier_code, moved)
        review_on = protected_until  # the job ran later than the protection's end: review now
    return _decide(ladder, policy, tier_code, state, lifetime, review_on, day)


def _warning(
    ladder: Sequence[Rung], policy: TierPolicy, tier_code: str, state: TierState, lifetime: int, review_on: date
) -> Review:
    growth = measured_growth(state, lifetime, policy, review_on)
    needed = max((keep_growth(ladder, tier_code) or 0) - growth, 0)
    marked = replace(state, warned_for=review_on, due_on=review_on)
    protected = state.upgraded_on is not None and review_on < state.upgraded_on + timedelta(days=policy.protection_days)
    action = ReviewAction.WARN if needed > 0 and not protected else ReviewAction.CHECKED
    return Review(action, tier_code, marked, growth, needed)


def _decide(
    ladder: Sequence[Rung],
    policy: TierPolicy,
    tier_code: str,
    state: TierState,
    lifetime: int,
    review_on: date,
    day: date,
) -> Review:
    growth = measured_growth(state, lifetime, policy, review_on)
    keep = keep_growth(ladder, tier_code)
    following = next_review(review_on, policy.review_months, day)
    if keep is not None and growth >= keep:
        kept = scheduled(replace(state, review_on=following, warned_for=None), policy, day)
        return Review(ReviewAction.KEEP, tier_code, kept, growth)
    target = downgraded(ladder, policy, tier_code, growth)
    if target == lowest(ladder):
        moved = _cleared(state)
    else:
        moved = scheduled(replace(state, review_on=following, warned_for=None), policy, day)
    return Review(ReviewAction.DOWN, target, moved, growth, (keep or 0) - growth)


def _cleared(state: TierState) -> TierState:
    """Off the review calendar (the lowest tier); the growth buckets stay."""
    return TierState(growth_months=state.growth_months)


def downgraded(ladder: Sequence[Rung], policy: TierPolicy, tier_code: str, growth: int) -> str:
    """One step down, or the highest lower tier whose keep threshold the growth reaches."""
    position = rank(ladder, tier_code)
    steps = ordered(ladder)
    if position < 0:  # a tier the programme no longer has
        return tier_for_growth(ladder, growth)
    below = steps[:position] or steps[:1]
    if policy.downgrade == "one_step":
        return below[-1].code
    kept = [tier for tier in below if tier.growth_to_keep <= growth]
    return kept[-1].code if kept else below[0].code


def next_review(review_on: date, months: int, day: date) -> date:
    """The first review date after `day` on the member's own calendar (review_on + k periods,
    counted from review_on so that month ends do not drift: Jan 31 → Feb 28 → Mar 31)."""
    periods = 1
    while (following := add_months(review_on, periods * months)) <= day:
        periods += 1
    return following


def merged_state(
    survivor: tuple[str, TierState], merged: tuple[str, TierState], tier_code: str
) -> tuple[TierState, TierState]:
    """(survivor's, merged member's) states after a merge: the buckets add up and the review
    calendar is that of the member who held the tier kept (the survivor's when both did); a
    tier neither held (raised by the combined growth) keeps the later review. The merged
    member is left with nothing to review."""
    (survivor_tier, survivor_state), (merged_tier, merged_state_) = survivor, merged
    buckets = merge_buckets(survivor_state.growth_months, merged_state_.growth_months)
    if survivor_tier == tier_code or merged_tier != tier_code:
        calendar_of = survivor_state
        if (
            survivor_tier != tier_code
            and merged_state_.review_on
            and (survivor_state.review_on is None or merged_state_.review_on > survivor_state.review_on)
        ):
            calendar_of = merged_state_
    else:
        calendar_of = merged_state_
    return replace(calendar_of, growth_months=buckets), TierState()
