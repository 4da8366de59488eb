"""Earning rules (积分规则): base, rounding, minimum, exclusions, tier multiplier, promotions,
best vs stack, the cap, and each line's share. Pure: no AWS, no sockets."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import pytest

from chalicelib.domain.earning import OrderFacts, OrderLine, TierBoost, check_lines, evaluate
from chalicelib.domain.errors import InvalidInput, RefundExceedsOrder
from chalicelib.domain.points import LineTally, allocate, clawback_for_lines, split_refund
from chalicelib.domain.programme import EarningRules

TUESDAY_15 = date(2026, 12, 15)  # a Tuesday, the 15th
WEDNESDAY = date(2026, 12, 16)
SATURDAY = date(2026, 12, 19)
SILVER = TierBoost("silver", "银卡", 200)


def rules(**fields: Any) -> EarningRules:
    return EarningRules.model_validate(fields, strict=False)


def promo(code: str, **fields: Any) -> dict[str, Any]:
    return {"code": code, "name": fields.pop("name", code), **fields}


def order(amount: int = 10_000, day: date = WEDNESDAY, store: str | None = None, *lines: OrderLine) -> OrderFacts:
    return OrderFacts(amount, day, store, tuple(lines))


def line(line_id: str, amount: int, sku: str = "SKU", category: str | None = None) -> OrderLine:
    return OrderLine(line_id, sku, category, amount)


def lined(*items: OrderLine, day: date = WEDNESDAY, store: str | None = None) -> OrderFacts:
    return OrderFacts(sum(item.amount_fen for item in items), day, store, items)


# --- base and rounding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fen", "floor", "half_up", "ceil"),
    [(0, 0, 0, 0), (1, 0, 0, 1), (49, 0, 0, 1), (50, 0, 1, 1), (99, 0, 1, 1), (100, 1, 1, 1), (101, 1, 1, 2),
     (149, 1, 1, 2), (150, 1, 2, 2), (199, 1, 2, 2), (19_999, 199, 200, 200)],
)  # fmt: skip
def test_base_rounds_the_units_of_spend_by_the_programmes_mode(fen: int, floor: int, half_up: int, ceil: int) -> None:
    got = [evaluate(rules(rounding=mode), order(fen)).points for mode in ("floor", "round", "ceil")]
    assert got == [floor, half_up, ceil]


def test_the_configured_rule_is_one_point_per_whole_yuan() -> None:
    earned = evaluate(EarningRules(), order(19_999))
    assert (earned.points, earned.explanation(), earned.text) == (199, [{"rule": "base", "points": 199}], "基础 199")


def test_points_per_unit_multiply_whole_units_not_fractions() -> None:
    ten_per_hundred_yuan = rules(points_per_unit=10, unit_fen=10_000)
    assert evaluate(ten_per_hundred_yuan, order(19_999)).points == 10
    assert evaluate(rules(points_per_unit=2), order(150)).points == 2


def test_rounding_is_once_per_order_not_per_line() -> None:
    three_small = lined(line("a", 99), line("b", 99), line("c", 99))
    earned = evaluate(EarningRules(), three_small)
    assert earned.points == 2
    assert sorted(earned.per_line.values()) == [0, 1, 1] and sum(earned.per_line.values()) == 2


# --- minimum and exclusions ----------------------------------------------------------------


def test_below_the_minimum_order_nothing_is_earned_at_the_minimum_it_is() -> None:
    minimum = rules(min_order_fen=5_000, promotions=[promo("b", bonus_points=50)])
    below = evaluate(minimum, order(4_999), SILVER)
    at = evaluate(minimum, order(5_000))
    assert (below.points, below.explanation(), below.text) == (
        0,
        [{"rule": "min_order", "points": 0}],
        "未达起积金额（满 ¥50 起积）",
    )
    assert at.points == 50 + 50


def test_excluded_skus_and_categories_earn_nothing_and_do_not_count_toward_the_minimum() -> None:
    excluding = rules(excluded_skus=["GIFTCARD"], excluded_categories=["tobacco"], min_order_fen=3_000)
    basket = lined(line("1", 2_500, "TEA"), line("2", 10_000, "GIFTCARD"), line("3", 8_000, "CIG", "tobacco"))
    assert evaluate(excluding, basket).points == 0  # eligible ¥25 < ¥30
    bigger = lined(line("1", 3_500, "TEA"), line("2", 10_000, "GIFTCARD"), line("3", 8_000, "CIG", "tobacco"))
    earned = evaluate(excluding, bigger, SILVER)
    assert earned.points == 70 and earned.per_line == {"1": 70, "2": 0, "3": 0}


def test_exclusions_need_lines_an_order_without_them_earns_on_its_amount() -> None:
    assert evaluate(rules(excluded_categories=["tobacco"]), order(8_000)).points == 80


# --- tier multiplier -------------------------------------------------------------------------


def test_the_tier_multiplier_adds_its_share_of_the_base() -> None:
    earned = evaluate(EarningRules(), order(1_250), SILVER)
    assert earned.explanation() == [{"rule": "base", "points": 12}, {"rule": "tier:silver ×2", "points": 12}]
    assert earned.text == "基础 12 + 银卡×2 12"


@pytest.mark.parametrize(("mode", "extra"), [("floor", 1), ("round", 2), ("ceil", 2)])
def test_a_fractional_tier_extra_is_rounded_once_by_the_mode(mode: str, extra: int) -> None:
    earned = evaluate(rules(rounding=mode), order(300), TierBoost("gold", "金卡", 150))
    assert earned.parts[1].label == "金卡×1.5" and earned.parts[1].points == extra


def test_a_tier_without_a_multiplier_adds_nothing_and_says_nothing() -> None:
    earned = evaluate(EarningRules(), order(1_250), TierBoost("normal", "普通会员", 100))
    assert earned.text == "基础 12"


# --- promotions ------------------------------------------------------------------------------


def test_member_day_on_the_15th_doubles_and_the_example_reads_as_written() -> None:
    member_day = rules(promotions=[promo("d15", name="会员日", days_of_month=[15], multiplier=300)])
    earned = evaluate(member_day, order(1_250, TUESDAY_15), SILVER)
    assert earned.explanation() == [
        {"rule": "base", "points": 12},
        {"rule": "tier:silver ×2", "points": 12},
        {"rule": "promotion:d15", "points": 24},
    ]
    assert earned.text == "基础 12 + 银卡×2 12 + 会员日 24"
    assert evaluate(member_day, order(1_250, WEDNESDAY), SILVER).points == 24


def test_multipliers_never_compound_each_adds_a_share_of_the_base() -> None:
    double_day = rules(promotions=[promo("d15", days_of_month=[15], multiplier=200)])
    assert evaluate(double_day, order(10_000, TUESDAY_15), SILVER).points == 300  # 100 + 100 + 100


def test_weekdays_and_date_window_bounds_are_inclusive() -> None:
    window = rules(
        promotions=[promo("xmas", starts_on="2026-12-15", ends_on="2026-12-19", weekdays=[2, 6], bonus_points=7)]
    )
    days = {day: evaluate(window, order(100, day)).points - 1 for day in (date(2026, 12, 14), TUESDAY_15, WEDNESDAY,
                                                                           SATURDAY, date(2026, 12, 22))}  # fmt: skip
    assert days == {date(2026, 12, 14): 0, TUESDAY_15: 7, WEDNESDAY: 0, SATURDAY: 7, date(2026, 12, 22): 0}


def test_a_store_promotion_needs_the_store() -> None:
    flagship = rules(promotions=[promo("sh", store_ids=["SH-01"], bonus_points=20)])
    assert [evaluate(flagship, order(1_000, store=s)).points for s in ("SH-01", "BJ-01", None)] == [30, 10, 10]


def test_a_sku_or_category_promotion_multiplies_only_the_matching_lines_base() -> None:
    tea = rules(promotions=[promo("tea", skus=["TEA-1"], categories=["tea"], multiplier=300)])
    basket = lined(line("a", 1_000, "TEA-1"), line("b", 2_000, "POT", "tea"), line("c", 5_000, "CUP"))
    earned = evaluate(tea, basket)
    assert earned.points == 80 + 60  # base 80; (10 + 20) × 2 extra
    assert earned.per_line == {"a": 30, "b": 60, "c": 50}


def test_a_scoped_promotion_never_matches_an_order_without_lines() -> None:
    tea = rules(promotions=[promo("tea", skus=["TEA-1"], bonus_points=99)])
    assert evaluate(tea, order(1_000)).points == 10


def test_a_promotion_does_not_reward_excluded_lines() -> None:
    gift = rules(excluded_skus=["GC"], promotions=[promo("gc", skus=["GC"], bonus_points=50)])
    assert evaluate(gift, lined(line("a", 1_000, "GC"), line("b", 500, "TEA"))).points == 5


def test_a_bonus_is_given_once_per_order_and_spread_over_the_lines_it_covers() -> None:
    snack = rules(promotions=[promo("snk", categories=["snack"], bonus_points=5)])
    earned = evaluate(snack, lined(line("a", 100, "A", "snack"), line("b", 300, "B", "snack"), line("c", 600, "C")))
    assert earned.points == 10 + 5 and earned.per_line == {"a": 1 + 1, "b": 3 + 4, "c": 6}


FOUR = [
    promo("d15", name="会员日", days_of_month=[15], multiplier=200, priority=1),
    promo("bonus", name="满额礼", bonus_points=100, priority=9),
    promo("tue", name="周二", weekdays=[2], multiplier=150, priority=5),
    promo("late", name="晚到", bonus_points=100, priority=9),
]


def test_best_keeps_the_single_promotion_giving_most() -> None:
    earned = evaluate(rules(combine="best", promotions=FOUR), order(30_000, TUESDAY_15))
    assert earned.explanation() == [{"rule": "base", "points": 300}, {"rule": "promotion:d15", "points": 300}]


def test_best_breaks_a_tie_by_priority_then_code() -> None:
    tie = [*FOUR[1:], promo("low", bonus_points=100, priority=0)]
    earned = evaluate(rules(combine="best", promotions=tie), order(10_000, WEDNESDAY))
    assert [part.rule for part in earned.parts] == ["base", "promotion:bonus"]


def test_stack_adds_every_promotion_listed_by_priority() -> None:
    earned = evaluate(rules(combine="stack", promotions=FOUR), order(10_000, TUESDAY_15), SILVER)
    assert [part.rule for part in earned.parts] == [
        "base", "tier:silver ×2", "promotion:bonus", "promotion:late", "promotion:tue", "promotion:d15"]  # fmt: skip
    assert earned.points == 100 + 100 + 100 + 100 + 50 + 100
    assert earned.text == "基础 100 + 银卡×2 100 + 满额礼 100 + 晚到 100 + 周二 50 + 会员日 100"


# --- cap -------------------------------------------------------------------------------------


def test_the_cap_trims_the_total_and_says_so() -> None:
    capped = rules(
        max_points_per_order=250, promotions=[promo("d15", name="会员日", days_of_month=[15], multiplier=200)]
    )
    basket = lined(line("a", 10_000), line("b", 5_000), day=TUESDAY_15)
    earned = evaluate(capped, basket)
    assert earned.points == 250
    assert earned.explanation()[-1] == {"rule": "cap", "points": -50}
    assert earned.text == "基础 150 + 会员日 150，单笔封顶 250"
    assert earned.per_line == {"a": 167, "b": 83}


def test_at_the_cap_nothing_is_trimmed() -> None:
    assert evaluate(rules(max_points_per_order=100), order(10_000)).text == "基础 100"


# --- lines always add up ---------------------------------------------------------------------


def test_the_lines_points_always_add_up_to_the_orders() -> None:
    rng = random.Random(14)
    everything = rules(
        rounding="round",
        excluded_categories=["x"],
        combine="stack",
        max_points_per_order=5_000,
        promotions=[promo("a", skus=["S1"], multiplier=250), promo("b", categories=["c"], bonus_points=33),
                    promo("d", days_of_month=[15], multiplier=175)],
    )  # fmt: skip
    for _ in range(300):
        items = [
            line(f"l{n}", rng.randint(0, 40_000), rng.choice(["S1", "S2"]), rng.choice(["c", "x", None]))
            for n in range(rng.randint(1, 8))
        ]
        earned = evaluate(everything, lined(*items, day=rng.choice([TUESDAY_15, WEDNESDAY])), SILVER)
        assert sum(earned.per_line.values()) == earned.points == sum(p.points for p in earned.parts)


def test_lines_must_add_up_to_the_amount_and_have_unique_ids() -> None:
    check_lines(300, (line("a", 100), line("b", 200)))
    for bad in [(line("a", 100), line("b", 199)), (line("a", 100), line("a", 200))]:
        with pytest.raises(InvalidInput) as refused:
            check_lines(300, bad)
        assert refused.value.field == "lines"


# --- allocation and refunds by line -----------------------------------------------------------


def test_allocate_gives_the_remainder_to_the_largest_fractions_then_the_earlier_line() -> None:
    assert allocate(10, [1, 1, 1]) == [4, 3, 3]
    assert allocate(2, [150, 50]) == [2, 0]
    assert allocate(7, [0, 0]) == [4, 3]
    assert allocate(5, [0, 3, 1]) == [0, 4, 1]
    assert allocate(0, [5, 5]) == [0, 0] and allocate(3, []) == []


def test_refunds_of_a_line_in_steps_take_back_exactly_what_it_earned() -> None:
    lines = [LineTally("a", 999, 33), LineTally("b", 1_001, 10)]
    taken = 0
    for step in (333, 333, 333):
        claw, lines = clawback_for_lines(lines, {"a": step})
        taken += claw
    assert taken == 33 and lines[0].refunded_fen == 999 and lines[1].refunded_fen == 0


def test_a_line_refund_beyond_the_line_or_of_an_unknown_line_is_refused_naming_lines() -> None:
    lines = [LineTally("a", 1_000, 10, refunded_fen=600)]
    with pytest.raises(RefundExceedsOrder) as over:
        clawback_for_lines(lines, {"a": 401})
    with pytest.raises(InvalidInput) as unknown:
        clawback_for_lines(lines, {"zz": 1})
    assert over.value.field == unknown.value.field == "lines"


def test_a_refund_naming_no_lines_is_spread_over_what_is_left_of_them() -> None:
    lines = [LineTally("a", 1_000, 10, refunded_fen=1_000), LineTally("b", 3_000, 30), LineTally("c", 1_000, 10)]
    assert split_refund(lines, 2_000) == {"b": 1_500, "c": 500}
    assert split_refund(lines, 4_000) == {"b": 3_000, "c": 1_000}
