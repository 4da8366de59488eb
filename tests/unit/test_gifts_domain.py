"""Points gift rules (积分转赠): the giver's lots move with their dates, earliest first; the
recipient's debt is repaid first; the programme's switch, sizes and daily limit."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.errors import InsufficientPoints, InvalidInput
from chalicelib.domain.gifts import (
    MAX_DATES,
    GiftDailyLimitReached,
    GiftsDisabled,
    MovedLot,
    check_daily_limit,
    check_request,
    gift_id,
    lots_detail,
    lots_from_detail,
    mask_nickname,
    plan_gift,
    receive,
)
from chalicelib.domain.points import PointsLot
from chalicelib.domain.programme import GiftRules

TODAY = date(2026, 11, 22)
LOTS = [PointsLot(date(2027, 1, 31), 30), PointsLot(date(2026, 12, 31), 20), PointsLot(date(2027, 2, 28), 50)]


def test_a_gift_takes_the_earliest_expiring_lots_and_keeps_their_dates() -> None:
    plan = plan_gift(LOTS, 100, 60, TODAY, recipient_debt=0)

    assert plan.moved == (
        MovedLot(date(2026, 12, 31), 20),
        MovedLot(date(2027, 1, 31), 30),
        MovedLot(date(2027, 2, 28), 10),
    )
    assert [(t.expires_on, t.taken, t.remaining_before) for t in plan.takes] == [
        (date(2026, 12, 31), 20, 20),
        (date(2027, 1, 31), 30, 30),
        (date(2027, 2, 28), 10, 50),
    ]
    assert plan.adds == {date(2026, 12, 31): 20, date(2027, 1, 31): 30, date(2027, 2, 28): 10}
    assert plan.repaid == 0


def test_an_expired_lot_not_yet_swept_is_not_giftable() -> None:
    lots = [PointsLot(date(2026, 10, 31), 40), PointsLot(date(2027, 1, 31), 10)]
    with pytest.raises(InsufficientPoints):
        plan_gift(lots, 50, 20, TODAY, recipient_debt=0)
    assert plan_gift(lots, 50, 10, TODAY, 0).moved == (MovedLot(date(2027, 1, 31), 10),)


def test_the_recipients_debt_is_repaid_from_the_earliest_points_moved() -> None:
    plan = plan_gift(LOTS, 100, 60, TODAY, recipient_debt=25)

    assert plan.repaid == 25
    assert plan.adds == {date(2027, 1, 31): 25, date(2027, 2, 28): 10}


def test_a_debt_larger_than_the_gift_takes_all_of_it() -> None:
    repaid, adds = receive((MovedLot(date(2027, 1, 31), 5),), debt=80)
    assert (repaid, adds) == (5, {})


@given(
    lots=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 100)), min_size=1, max_size=MAX_DATES),
    debt=st.integers(0, 500),
    data=st.data(),
)
def test_what_leaves_the_giver_arrives_as_repaid_debt_plus_lots_of_the_same_dates(
    lots: list[tuple[int, int]], debt: int, data: st.DataObject
) -> None:
    by_date: dict[date, int] = {}
    for offset, points in lots:
        day = date.fromordinal(TODAY.toordinal() + offset)
        by_date[day] = by_date.get(day, 0) + points
    held = [PointsLot(day, points) for day, points in by_date.items()]
    total = sum(by_date.values())
    points = data.draw(st.integers(1, total))

    plan = plan_gift(held, total, points, TODAY, debt)

    assert sum(t.taken for t in plan.takes) == points == plan.repaid + sum(plan.adds.values())
    assert plan.repaid == min(debt, points)
    assert set(plan.adds) <= {t.expires_on for t in plan.takes}
    assert all(plan.adds[day] <= by_date[day] for day in plan.adds)


def test_only_the_balance_is_giftable_not_the_points_a_debt_holds_back() -> None:
    with pytest.raises(InsufficientPoints) as refused:
        plan_gift(LOTS, balance=40, points=41, today=TODAY, recipient_debt=0)
    assert refused.value.field == "points"


@pytest.mark.parametrize("points", [0, -5])
def test_a_gift_of_nothing_or_less_is_refused_naming_points(points: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        plan_gift(LOTS, 100, points, TODAY, 0)
    assert refused.value.field == "points"


def test_a_gift_spread_over_too_many_dates_for_one_transaction_is_refused() -> None:
    many = [PointsLot(date(2027, 1, day), 1) for day in range(1, MAX_DATES + 2)]
    assert len(plan_gift(many, len(many), MAX_DATES, TODAY, 0).takes) == MAX_DATES
    with pytest.raises(InvalidInput, match="expiry dates") as refused:
        plan_gift(many, len(many), MAX_DATES + 1, TODAY, 0)
    assert refused.value.field == "points"


def test_gifts_are_off_unless_the_programme_offers_them() -> None:
    with pytest.raises(GiftsDisabled):
        check_request(GiftRules(), 10)
    check_request(GiftRules(enabled=True), 10)


def test_the_programme_bounds_one_gift() -> None:
    rules = GiftRules(enabled=True, min_points=10, per_gift_max_points=100)
    for points in (9, 101):
        with pytest.raises(InvalidInput) as refused:
            check_request(rules, points)
        assert refused.value.field == "points"
    check_request(rules, 10)
    check_request(rules, 100)


def test_a_programme_whose_minimum_no_gift_can_reach_is_invalid() -> None:
    with pytest.raises(ValidationError, match="min_points"):
        GiftRules(enabled=True, min_points=50, daily_limit_points=40)


def test_the_daily_limit_counts_what_was_given_today() -> None:
    check_daily_limit(given_today=900, points=100, limit=1000)
    with pytest.raises(GiftDailyLimitReached, match="100 left") as refused:
        check_daily_limit(given_today=900, points=101, limit=1000)
    assert refused.value.field == "points" and refused.value.code == "gift_daily_limit_reached"


@pytest.mark.parametrize(
    ("nickname", "masked"), [("张三丰", "张**"), ("Al", "A**"), ("王", "*"), ("", None), (None, None)]
)
def test_a_nickname_shows_its_first_character_only(nickname: str | None, masked: str | None) -> None:
    assert mask_nickname(nickname) == masked


def test_a_gift_id_is_stable_and_names_no_member() -> None:
    assert gift_id("gift:m_1:k1") == gift_id("gift:m_1:k1") != gift_id("gift:m_1:k2")
    assert gift_id("gift:m_1:k1").startswith("gft_") and "m_1" not in gift_id("gift:m_1:k1")


def test_moved_lots_read_back_from_an_entrys_detail() -> None:
    moved = (MovedLot(date(2026, 12, 31), 20), MovedLot(date(2027, 1, 31), 3))
    assert lots_from_detail(lots_detail(moved)) == moved
    assert lots_from_detail(None) == ()
