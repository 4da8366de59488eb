"""Checkout's rules (domain/checkout.py): every part allocated to lines adds up, line by line and
in total; the points deduction stays within its share, the balance and its steps; a refund in
any number of steps gives back exactly each part of each line; coupons combine only across
groups and come back with their last line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.checkout import (
    CheckoutLine,
    CheckoutRefused,
    CouponPlan,
    Deduction,
    LinePlan,
    TakenPoints,
    apply_coupons,
    apply_points,
    apply_wallet,
    best_coupon,
    coupons_back,
    points_max,
    refund_line,
    return_points,
    spread_refund,
    tier_discounts,
    wallet_usable,
)
from chalicelib.domain.coupons import Benefit, Coupon, CouponStatus, Kind, Scope, Stacking, Terms
from chalicelib.domain.errors import InvalidInput

START = datetime(2026, 11, 1, tzinfo=UTC)
DEDUCTION = Deduction(True, 100, 50, 0)
ANY = Scope()
PARTS = ("tier_fen", "coupon_fen", "points_fen", "wallet_fen", "cash_fen")


def coupon(
    code: str,
    off: int,
    threshold: int = 0,
    group: str = "default",
    exclusive: bool = True,
    with_points: bool = True,
    scope: Scope = ANY,
    ends_in: int = 7,
) -> Coupon:
    benefit = Benefit(Kind.AMOUNT_OFF, threshold_fen=threshold, amount_off_fen=off)
    terms = Terms(code, benefit, scope=scope, stacking=Stacking(group, exclusive, with_points))
    until = START + timedelta(days=ends_in)
    return Coupon(f"cp-{code}", "m", "ct", code, terms, START, until, CouponStatus.UNUSED, "t", "claim")


LINES = (CheckoutLine("l1", "coffee", 20_000, "drinks"), CheckoutLine("l2", "cake", 10_000, "food"))


def test_the_tier_discount_rounds_down_the_fen_off_on_each_line() -> None:
    plans = tier_discounts((CheckoutLine("a", "x", 999), CheckoutLine("b", "y", 1)), 95)
    assert [plan.tier_fen for plan in plans] == [49, 0]  # 5% of 999 is 49.95: the member pays 950


def test_the_best_coupon_takes_most_off_and_a_tie_goes_to_the_one_ending_first() -> None:
    plans = tier_discounts(LINES, 100)
    offers = [coupon("A", 1_000, ends_in=9), coupon("B", 3_000, ends_in=9), coupon("C", 3_000, ends_in=3)]
    _, used = best_coupon(plans, LINES, offers)
    assert [c.code for c in used] == ["C"]


def test_a_coupon_in_scope_of_one_category_discounts_only_its_lines() -> None:
    plans, used = apply_coupons(
        tier_discounts(LINES, 100), LINES, [coupon("F", 2_000, scope=Scope(categories=("food",)))]
    )
    assert [plan.coupon_fen for plan in plans] == [0, 2_000] and used[0].lines == ("l2",)


def test_coupons_of_one_group_or_exclusive_do_not_combine_and_a_threshold_not_reached_is_refused() -> None:
    plans = tier_discounts(LINES, 100)
    with pytest.raises(CheckoutRefused) as same:
        apply_coupons(plans, LINES, [coupon("A", 100, exclusive=False), coupon("B", 100, exclusive=False)])
    with pytest.raises(CheckoutRefused) as threshold:
        apply_coupons(plans, LINES, [coupon("A", 100, threshold=40_000)])
    _, both = apply_coupons(
        plans, LINES, [coupon("A", 100, group="g1", exclusive=False), coupon("B", 200, group="g2", exclusive=False)]
    )
    with pytest.raises(CheckoutRefused) as apart:  # A and C share a group, with B between them
        apply_coupons(plans, LINES, [coupon("A", 100, group="g1", exclusive=False),
                                     coupon("B", 100, group="g2", exclusive=False),
                                     coupon("C", 100, group="g1", exclusive=False)])  # fmt: skip
    assert same.value.code == apart.value.code == "coupons_do_not_combine"
    assert threshold.value.code == "coupon_threshold"
    assert sum(c.discount_fen for c in both) == 300


def test_points_are_capped_by_the_share_the_balance_the_minimum_and_a_coupon_without_points() -> None:
    plans = tier_discounts(LINES, 100)
    assert points_max(plans, DEDUCTION, 100_000, []) == 15_000  # half of ¥300, 100 points a yuan
    assert points_max(plans, DEDUCTION, 1_234, []) == 1_234
    assert points_max(plans, Deduction(True, 100, 50, 2_000), 1_999, []) == 0
    assert points_max(plans, DEDUCTION, 100_000, [coupon("A", 100, with_points=False)]) == 0
    assert points_max(plans, Deduction(True, 10, 50, 0), 1_234, []) == 1_234  # 10 points a yuan: 1 point = 10 fen
    assert points_max(plans, Deduction(True, 250, 50, 0), 1_234, []) == 1_230  # steps of 5 points = 2 fen


def test_points_off_the_step_or_over_the_most_are_refused_naming_points() -> None:
    plans = tier_discounts(LINES, 100)
    with pytest.raises(InvalidInput) as step:
        apply_points(plans, 7, 1_000, Deduction(True, 250, 50, 0))
    with pytest.raises(InvalidInput) as over:
        apply_points(plans, 1_001, 1_000, DEDUCTION)
    assert step.value.field == over.value.field == "points"


amounts = st.lists(st.integers(min_value=0, max_value=50_000), min_size=1, max_size=6).filter(lambda xs: sum(xs) > 0)


@given(
    amounts=amounts,
    rate=st.integers(min_value=50, max_value=100),
    off=st.integers(min_value=0, max_value=100_000),
    points_share=st.floats(min_value=0, max_value=1),
    wallet_share=st.floats(min_value=0, max_value=1),
    per_yuan=st.sampled_from([1, 10, 100, 250]),
)
def test_every_line_and_the_order_add_up_whatever_the_parts(
    amounts: list[int], rate: int, off: int, points_share: float, wallet_share: float, per_yuan: int
) -> None:
    lines = tuple(CheckoutLine(f"l{n}", f"s{n}", amount) for n, amount in enumerate(amounts))
    rules = Deduction(True, per_yuan, 50, 0)
    plans, _ = best_coupon(tier_discounts(lines, rate), lines, [coupon("A", off)])
    most = points_max(plans, rules, 10**9, [])
    step = rules.step[0]
    plans = apply_points(plans, int(most * points_share) // step * step, most, rules)
    usable = wallet_usable(plans, 10**9)
    plans = apply_wallet(plans, int(usable * wallet_share), usable)
    for plan in plans:
        assert plan.amount_fen == sum(getattr(plan, part) for part in PARTS)
        assert all(getattr(plan, part) >= 0 for part in PARTS)
    assert sum(plan.points_fen for plan in plans) * per_yuan == sum(plan.points for plan in plans) * 100


@given(
    amount=st.integers(min_value=1, max_value=100_000),
    parts=st.tuples(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000)),
    cuts=st.lists(st.integers(min_value=1, max_value=100_000), min_size=1, max_size=8),
)
def test_a_line_refunded_in_any_steps_gives_back_exactly_its_parts(
    amount: int, parts: tuple[int, int, int], cuts: list[int]
) -> None:
    points, wallet, coupon_fen = parts
    wallet, coupon_fen = min(wallet, amount), min(coupon_fen, amount - min(wallet, amount))
    line = LinePlan("l", amount, coupon_fen=coupon_fen, wallet_fen=wallet, points=points)
    back = {"points": 0, "wallet": 0, "cash": 0}
    for cut in cuts:
        left = line.amount_fen - line.refunded_fen
        if not left:
            break
        fen = min(cut, left)
        given = refund_line(line, fen)
        back = {"points": back["points"] + given.points, "wallet": back["wallet"] + given.wallet_fen,
                "cash": back["cash"] + given.cash_fen}  # fmt: skip
        line = LinePlan("l", amount, coupon_fen=coupon_fen, wallet_fen=wallet, points=points,
                        refunded_fen=line.refunded_fen + fen)  # fmt: skip
    rest = line.amount_fen - line.refunded_fen
    if rest:
        given = refund_line(line, rest)
        back = {"points": back["points"] + given.points, "wallet": back["wallet"] + given.wallet_fen,
                "cash": back["cash"] + given.cash_fen}  # fmt: skip
    assert back == {"points": points, "wallet": wallet, "cash": amount - coupon_fen - wallet}


def test_a_refund_over_what_is_left_is_refused_naming_lines() -> None:
    with pytest.raises(InvalidInput) as refused:
        refund_line(LinePlan("l", 100, refunded_fen=60), 41)
    assert refused.value.field == "lines"


def test_a_refund_naming_no_lines_is_spread_over_what_is_left_of_each() -> None:
    plans = (LinePlan("a", 300, refunded_fen=100), LinePlan("b", 100))
    assert spread_refund(plans, 300) == {"a": 200, "b": 100}


@given(taken=st.lists(st.integers(1, 1_000), min_size=1, max_size=5), steps=st.lists(st.integers(1, 500), max_size=6))
def test_points_back_never_exceed_what_each_lot_gave(taken: list[int], steps: list[int]) -> None:
    lots = tuple(TakenPoints(f"2027-0{n + 1}-28", points) for n, points in enumerate(taken))
    for step in steps:
        left = sum(lot.points - lot.returned for lot in lots)
        lots, per_lot = return_points(lots, min(step, left))
        assert sum(per_lot.values()) == min(step, left)
    assert all(0 <= lot.returned <= lot.points for lot in lots)


def test_a_coupon_comes_back_only_with_the_last_of_its_lines() -> None:
    used = (CouponPlan("cp", "C", "满200减30", 3_000, ("l1", "l2")),)
    half = (LinePlan("l1", 100, refunded_fen=100), LinePlan("l2", 100, refunded_fen=50))
    whole = (LinePlan("l1", 100, refunded_fen=100), LinePlan("l2", 100, refunded_fen=100))
    assert coupons_back(used, half) == [] and coupons_back(used, whole) == list(used)
