"""Points rules (积分规则): expiry policies, FIFO consumption, earning and clawback rounding."""

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import InsufficientPoints, InvalidInput
from chalicelib.domain.points import (
    AnnualClearing,
    PointsLot,
    RollingExpiry,
    clawback_for_refund,
    due_for_expiry,
    earning_day,
    next_expiry,
    parse_expiry_policy,
    plan_clawback,
    plan_consumption,
    points_for_amount,
    split_earning,
)


@pytest.mark.parametrize(
    ("earned_on", "months", "expires_on"),
    [
        (date(2026, 1, 15), 12, date(2027, 1, 31)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2027, 1, 31), 1, date(2027, 2, 28)),
        (date(2027, 1, 30), 13, date(2028, 2, 29)),
        (date(2026, 12, 31), 6, date(2027, 6, 30)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
    ],
)
def test_rolling_expiry_rounds_to_month_end(earned_on: date, months: int, expires_on: date) -> None:
    assert RollingExpiry(months).expires_on(earned_on) == expires_on


def test_annual_clearing_clears_last_years_points_on_fixed_date() -> None:
    policy = AnnualClearing(12, 31)
    assert policy.expires_on(date(2026, 1, 1)) == date(2027, 12, 31)
    assert policy.expires_on(date(2026, 12, 31)) == date(2027, 12, 31)


def test_annual_clearing_on_feb_29_falls_back_to_feb_28_in_common_years() -> None:
    policy = AnnualClearing(2, 29)
    assert policy.expires_on(date(2026, 5, 1)) == date(2027, 2, 28)
    assert policy.expires_on(date(2027, 5, 1)) == date(2028, 2, 29)


@pytest.mark.parametrize("text", ["rolling:0", "rolling:x", "annual:13-01", "annual:02-30", "weekly:1", ""])
def test_bad_expiry_policy_is_rejected_naming_the_setting(text: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_expiry_policy(text)
    assert error.value.field == "POINTS_EXPIRY_POLICY"


def test_parse_expiry_policy_reads_both_kinds() -> None:
    assert parse_expiry_policy("rolling:6") == RollingExpiry(6)
    assert parse_expiry_policy("annual:12-31") == AnnualClearing(12, 31)


def test_points_expire_earliest_lot_first() -> None:
    lots = [PointsLot(date(2027, 3, 31), 50), PointsLot(date(2027, 1, 31), 30), PointsLot(date(2027, 2, 28), 40)]
    takes = plan_consumption(lots, 60, today=date(2026, 12, 1))
    assert [(t.expires_on, t.taken) for t in takes] == [(date(2027, 1, 31), 30), (date(2027, 2, 28), 30)]
    assert takes[0].empties_lot and not takes[1].empties_lot


def test_expired_lots_are_not_spendable_even_before_the_job_runs() -> None:
    lots = [PointsLot(date(2026, 11, 30), 100), PointsLot(date(2027, 1, 31), 10)]
    with pytest.raises(InsufficientPoints):
        plan_consumption(lots, 50, today=date(2026, 12, 1))


def test_lot_is_spendable_on_its_expiry_day() -> None:
    lots = [PointsLot(date(2026, 11, 30), 100)]
    assert plan_consumption(lots, 100, today=date(2026, 11, 30))[0].taken == 100
    assert due_for_expiry(lots, date(2026, 11, 30)) == []
    assert due_for_expiry(lots, date(2026, 12, 1)) == lots


@pytest.mark.parametrize("points", [0, -5])
def test_consumption_needs_positive_points(points: int) -> None:
    with pytest.raises(InvalidInput):
        plan_consumption([PointsLot(date(2027, 1, 31), 10)], points, today=date(2026, 1, 1))


def test_clawback_takes_what_lots_hold_and_reports_the_rest_as_debt() -> None:
    takes, debt = plan_clawback([PointsLot(date(2027, 1, 31), 30)], 100)
    assert [t.taken for t in takes] == [30]
    assert debt == 70


def test_earnings_repay_debt_before_filling_a_lot() -> None:
    assert split_earning(50, 70) == (50, 0)
    assert split_earning(100, 70) == (70, 30)
    assert split_earning(100, 0) == (0, 100)


@pytest.mark.parametrize(("amount_fen", "expected"), [(0, 0), (99, 0), (100, 1), (19_999, 199), (300_000, 3000)])
def test_one_point_per_whole_yuan_fractions_dropped(amount_fen: int, expected: int) -> None:
    assert points_for_amount(amount_fen, points_per_unit=1, unit_fen=100) == expected


def test_ten_points_per_hundred_yuan_programme() -> None:
    assert points_for_amount(19_999, points_per_unit=10, unit_fen=10_000) == 10


@given(
    earned=st.integers(0, 10_000),
    amount=st.integers(1, 1_000_000),
    cuts=st.lists(st.integers(1, 100), min_size=1, max_size=8),
)
def test_partial_refunds_adding_up_to_the_order_claw_back_exactly_what_it_earned(
    earned: int, amount: int, cuts: list[int]
) -> None:
    total_cut = sum(cuts)
    refunds = [amount * c // total_cut for c in cuts]
    refunds[-1] += amount - sum(refunds)
    refunded = clawed = 0
    for refund in refunds:
        clawed += clawback_for_refund(earned, amount, refunded, refund)
        refunded += refund
    assert clawed == earned


def test_next_expiry_is_the_earliest_spendable_lot() -> None:
    lots = [PointsLot(date(2027, 3, 31), 5), PointsLot(date(2026, 1, 31), 9), PointsLot(date(2027, 1, 31), 7)]
    assert next_expiry(lots, date(2026, 6, 1)) == PointsLot(date(2027, 1, 31), 7)
    assert next_expiry([], date(2026, 6, 1)) is None


def test_an_order_paid_before_midnight_is_dated_by_its_paid_day() -> None:
    assert earning_day(date(2026, 11, 30), date(2026, 12, 1), RollingExpiry(12)) == date(2026, 11, 30)


def test_a_lot_is_never_born_expired_when_the_paid_day_lot_has_passed() -> None:
    # Cleared every Jan 15: an order paid on Dec 30 and reported on Jan 20 would be dead on arrival.
    assert earning_day(date(2025, 12, 30), date(2026, 1, 20), AnnualClearing(1, 15)) == date(2026, 1, 20)
    assert earning_day(date(2025, 12, 30), date(2026, 1, 10), AnnualClearing(1, 15)) == date(2025, 12, 30)


def test_an_order_paid_on_a_later_day_than_today_is_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        earning_day(date(2026, 12, 2), date(2026, 12, 1), RollingExpiry(12))
    assert error.value.field == "paid_at"
