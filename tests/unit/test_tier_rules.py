"""Tier rules: growth value (成长值) is whole yuan paid, tiers only go up from an order, and a
merged member keeps the better tier."""

from __future__ import annotations

import pytest

from chalicelib.domain.points import clawback_for_refund
from chalicelib.domain.tiers import Tier, growth_for_amount, highest, rank, tier_for_growth, upgrade

LADDER = (Tier("normal", 0), Tier("silver", 3000), Tier("gold", 15000), Tier("black", 50000))


@pytest.mark.parametrize(("fen", "growth"), [(0, 0), (99, 0), (100, 1), (19_999, 199), (300_000, 3000)])
def test_growth_is_whole_yuan_paid(fen: int, growth: int) -> None:
    assert growth_for_amount(fen) == growth


@pytest.mark.parametrize(
    ("growth", "code"), [(0, "normal"), (2999, "normal"), (3000, "silver"), (14_999, "silver"), (50_000, "black")]
)
def test_tier_is_the_highest_threshold_reached(growth: int, code: str) -> None:
    assert tier_for_growth(LADDER, growth) == code


def test_ladder_order_does_not_depend_on_configuration_order() -> None:
    shuffled = (LADDER[2], LADDER[0], LADDER[3], LADDER[1])
    assert tier_for_growth(shuffled, 16_000) == "gold"
    assert [rank(shuffled, tier.code) for tier in LADDER] == [0, 1, 2, 3]


def test_an_order_only_ever_upgrades() -> None:
    assert upgrade(LADDER, "normal", 3000) == "silver"
    assert upgrade(LADDER, "silver", 3000) is None
    assert upgrade(LADDER, "gold", 3500) is None, "a granted higher tier is never lowered by an order"


def test_a_member_on_a_retired_tier_code_joins_the_ladder_where_growth_puts_them() -> None:
    assert upgrade(LADDER, "retired-code", 10) == "normal"
    assert upgrade(LADDER, "retired-code", 3000) == "silver"


def test_merged_member_keeps_the_best_of_both_tiers() -> None:
    assert highest(LADDER, "silver", "gold", "normal") == "gold"
    assert highest(LADDER, "normal", "normal") == "normal"


def test_partial_refunds_give_back_exactly_the_growth_of_the_order() -> None:
    order_growth, amount = 333, 33_399
    refunds = [10_000, 3_333, 20_066]
    taken, before = [], 0
    for refund in refunds:
        taken.append(clawback_for_refund(order_growth, amount, before, refund))
        before += refund
    assert sum(taken) == order_growth
    assert all(value >= 0 for value in taken)
