"""Tiers (会员等级) and growth value (成长值): which tier the growth in the programme's window earns.

Growth is separate from spendable points: it is never spent, orders add it and refunds take
back what they returned (the cumulative rule of `domain.points.clawback_for_refund`). Besides
the lifetime total, a member keeps growth by calendar month (`{"2026-11": 320}`, the last
`MONTHS_KEPT` months), so the growth of a calendar year or of a rolling 12 months is a sum of
a few buckets, never a read of orders. An order only ever raises the tier; lowering it is the
review's decision (保级, `domain/tier_review.py`).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol, TypeVar

FEN_PER_YUAN = 100
MONTHS_KEPT = 24  # two calendar years: every window, also one measured at a coming review
WINDOWS = ("lifetime", "calendar_year", "rolling_12_months")


class Rung(Protocol):
    """A tier of a ladder: the domain's `Tier` or the programme's `TierRule`."""

    @property
    def code(self) -> str: ...

    @property
    def min_growth(self) -> int: ...

    @property
    def growth_to_keep(self) -> int: ...


R = TypeVar("R", bound=Rung)


@dataclass(frozen=True)
class Tier:
    code: str
    min_growth: int
    keep_growth: int | None = None  # to keep the tier at review (保级); default min_growth

    @property
    def growth_to_keep(self) -> int:
        return self.min_growth if self.keep_growth is None else self.keep_growth


@dataclass(frozen=True)
class TierState:
    """A member's growth by month and review calendar. `review_on` is the day the tier is
    reviewed (none on the lowest tier), `upgraded_on` starts the protection after an upgrade,
    `warned_for` the review a 保级 warning was sent for, and `due_on` the next day the review
    job must look at the member (the warning's day, else the review's): the index key."""

    growth_months: Mapping[str, int] = field(default_factory=dict)
    review_on: date | None = None
    upgraded_on: date | None = None
    warned_for: date | None = None
    due_on: date | None = None


def growth_for_amount(amount_fen: int, per_yuan: int = 1) -> int:
    """成长值 = whole yuan paid × the programme's growth per yuan (1 unless it says otherwise)."""
    return max(amount_fen, 0) // FEN_PER_YUAN * per_yuan


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def months_back(day: date, months: int) -> str:
    """The month key `months` calendar months before `day`'s month."""
    index = day.year * 12 + day.month - 1 - months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def add_months(day: date, months: int) -> date:
    """The same day `months` later; a day the month lacks is its last (Feb 29 → Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def window_growth(buckets: Mapping[str, int], lifetime: int, window: str, today: date) -> int:
    """Growth in the window that contains `today`: all of it (lifetime), this calendar year
    (from Jan 1, the brand's calendar), or this month and the 11 before (rolling_12_months)."""
    if window == "lifetime":
        return max(lifetime, 0)
    last = month_key(today)
    if window == "calendar_year":
        first = f"{today.year:04d}-01"
    elif window == "rolling_12_months":
        first = months_back(today, 11)
    else:
        raise ValueError(f"unknown growth window {window!r}")
    return sum(max(int(value), 0) for month, value in buckets.items() if first <= month <= last)


def add_growth(buckets: Mapping[str, int], month: str | None, delta: int, today: date) -> dict[str, int]:
    """The buckets after `delta` in `month`: a refund takes back from the order's month, never
    below zero (a month already dropped, or emptied, gives nothing more back); months older
    than `MONTHS_KEPT` are dropped."""
    moved = dict(buckets)
    if month is not None and delta:
        moved[month] = max(int(moved.get(month, 0)) + delta, 0)
    oldest = months_back(today, MONTHS_KEPT - 1)
    return {key: int(value) for key, value in sorted(moved.items()) if key >= oldest and int(value) > 0}


def merge_buckets(*parts: Mapping[str, int]) -> dict[str, int]:
    """Two members' buckets added up month by month (会员合并)."""
    merged: dict[str, int] = {}
    for buckets in parts:
        for month, value in buckets.items():
            merged[month] = merged.get(month, 0) + int(value)
    return {month: value for month, value in sorted(merged.items()) if value > 0}


def rank(ladder: Sequence[Rung], code: str) -> int:
    """Position on the ladder, lowest 0; an unknown code ranks below every tier."""
    ordered = sorted(ladder, key=_min_growth)
    return next((index for index, tier in enumerate(ordered) if tier.code == code), -1)


def ordered(ladder: Sequence[R]) -> list[R]:
    return sorted(ladder, key=_min_growth)


def lowest(ladder: Sequence[Rung]) -> str:
    return min(ladder, key=_min_growth).code


def tier_for_growth(ladder: Sequence[Rung], growth: int) -> str:
    reached = [tier for tier in ladder if tier.min_growth <= growth]
    return max(reached, key=_min_growth).code if reached else lowest(ladder)


def upgrade(ladder: Sequence[Rung], current: str, growth: int) -> str | None:
    """The tier the growth earns when it is above the current one; None keeps the current tier."""
    earned = tier_for_growth(ladder, growth)
    return earned if rank(ladder, earned) > rank(ladder, current) else None


def highest(ladder: Sequence[Rung], *codes: str) -> str:
    """The highest of some tiers (a merged member keeps the better of the two)."""
    return max(codes, key=lambda code: rank(ladder, code))


def next_tier(ladder: Sequence[R], current: str) -> R | None:
    """The tier above the current one (None at the top)."""
    steps = ordered(ladder)
    position = rank(ladder, current)
    return steps[position + 1] if position + 1 < len(steps) else None


def rung(ladder: Sequence[R], code: str) -> R | None:
    return next((tier for tier in ladder if tier.code == code), None)


def yuan_for_growth(growth: int, per_yuan: int) -> int | None:
    """The whole yuan to spend for `growth` more (None when spending earns no growth)."""
    if per_yuan <= 0:
        return None
    return -(-max(growth, 0) // per_yuan)


def _min_growth(tier: Rung) -> int:
    return tier.min_growth
