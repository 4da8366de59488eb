"""Tiers (会员等级) and growth value (成长值): which tier a member's growth earns.

Growth is separate from spendable points: it is never spent, orders add the whole yuan
paid and refunds take back what they returned (the same cumulative rule as points:
`domain.points.clawback_for_refund`). Tiers only go up here; a downgrade is the
annual review's decision (保级), not an order's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FEN_PER_YUAN = 100


@dataclass(frozen=True)
class Tier:
    code: str
    min_growth: int


def growth_for_amount(amount_fen: int) -> int:
    """成长值 = whole yuan paid."""
    return max(amount_fen, 0) // FEN_PER_YUAN


def rank(ladder: Sequence[Tier], code: str) -> int:
    """Position on the ladder, lowest 0; an unknown code ranks below every tier."""
    ordered = sorted(ladder, key=_min_growth)
    return next((index for index, tier in enumerate(ordered) if tier.code == code), -1)


def tier_for_growth(ladder: Sequence[Tier], growth: int) -> str:
    reached = [tier for tier in ladder if tier.min_growth <= growth]
    return max(reached, key=_min_growth).code if reached else min(ladder, key=_min_growth).code


def upgrade(ladder: Sequence[Tier], current: str, growth: int) -> str | None:
    """The tier the growth earns when it is above the current one; None keeps the current tier."""
    earned = tier_for_growth(ladder, growth)
    return earned if rank(ladder, earned) > rank(ladder, current) else None


def highest(ladder: Sequence[Tier], *codes: str) -> str:
    """The highest of some tiers (a merged member keeps the better of the two)."""
    return max(codes, key=lambda code: rank(ladder, code))


def _min_growth(tier: Tier) -> int:
    return tier.min_growth
