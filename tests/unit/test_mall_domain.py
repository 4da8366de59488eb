"""Points mall rules (domain/mall.py, domain/mall_redemptions.py): definitions that name the
field at fault, windows to the second around Shanghai midnight, limits by Shanghai periods,
the order refusals are heard in, a fulfilment's steps, and the refund into lots. No I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.clock import local_date
from chalicelib.domain.errors import DomainError, InvalidInput
from chalicelib.domain.mall import (
    BelowMinimumBalance,
    MallRefused,
    MallTierRestricted,
    MemberCount,
    Reward,
    RewardDefinition,
    RewardStatus,
    check_limits,
    check_member,
    check_open,
    check_request,
    is_visible,
    period_key,
    refusal,
)
from chalicelib.domain.mall_redemptions import (
    RedemptionStatus,
    TakenLot,
    next_status,
    plan_refund,
    redemption_id,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 11, 22, 12, tzinfo=SHANGHAI)


def definition(**changes: Any) -> RewardDefinition:
    data: dict[str, Any] = {"name": "保温杯", "item": {"kind": "physical", "stock": 10}, "points": 100, **changes}
    return RewardDefinition.model_validate(data, strict=False)


def reward(status: RewardStatus = RewardStatus.ACTIVE, remaining: int = 10, **changes: Any) -> Reward:
    return Reward("rw_1", 1, status, definition(**changes), remaining, 0, "", "", "", "")


def fields(error: ValidationError) -> list[str]:
    return [".".join(str(part) for part in item["loc"]) for item in error.errors()]


def code(call: Any) -> str:
    with pytest.raises(DomainError) as refused:
        call()
    return refused.value.code


# --- definitions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"per_member_limit": 2, "per_period_limit": 3}, "per_period_limit"),
        ({"visible_from": "2026-12-02T00:00:00+08:00", "visible_until": "2026-12-01T23:59:59+08:00"}, "visible_until"),
        ({"redeem_from": "2026-12-02T00:00:00+08:00", "redeem_until": "2026-12-01T23:59:59+08:00"}, "redeem_until"),
        ({"visible_from": "2026-12-02T00:00:00+08:00", "redeem_from": "2026-12-01T00:00:00+08:00"}, "redeem_from"),
        ({"visible_until": "2026-12-01T23:59:59+08:00", "redeem_from": "2026-12-02T00:00:00+08:00"}, "redeem_from"),
        ({"visible_until": "2026-12-01T23:59:59+08:00", "redeem_until": "2026-12-02T00:00:00+08:00"}, "redeem_until"),
        ({"redeem_until": "2026-12-01T23:59:59"}, "redeem_until"),
        ({"tiers": ["gold", "gold"]}, "tiers"),
        ({"tiers": ["Gold"]}, "tiers.0"),
        ({"item": {"kind": "partner_code", "partner": "x", "stock": 3}}, "item.partner_code.stock"),
        ({"item": {"kind": "coupon", "stock": 3}}, "item.coupon.coupon_template_id"),
        ({"item": {"kind": "physical", "stock": 3, "max_quantity": 11}}, "item.physical.max_quantity"),
        ({"points": 1_000_001}, "points"),
    ],
)
def test_a_bad_definition_names_its_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        definition(**changes)
    assert fields(refused.value) == [field]


def test_a_redeem_window_inside_the_visible_window_is_accepted() -> None:
    shown = definition(
        visible_from="2026-12-01T00:00:00+08:00",
        visible_until="2026-12-31T23:59:59+08:00",
        redeem_from="2026-12-01T00:00:00+08:00",
        redeem_until="2026-12-31T23:59:59+08:00",
        per_member_limit=2,
        per_period_limit=2,
    )
    assert shown.max_quantity == 1 and shown.stock == 10


def test_only_a_physical_gift_takes_more_than_one_unit_and_a_partner_codes_stock_is_its_pool() -> None:
    assert definition(item={"kind": "physical", "stock": 5, "max_quantity": 3}).max_quantity == 3
    partner = definition(item={"kind": "partner_code", "partner": "视频会员"})
    assert (partner.max_quantity, partner.stock) == (1, None)


# --- windows, to the second, in Shanghai ---------------------------------------------------


def test_the_last_second_of_a_redeem_window_is_redeemable_and_midnight_is_not() -> None:
    until = reward(redeem_until="2026-12-31T23:59:59+08:00")
    check_open(until, datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=SHANGHAI))
    assert code(lambda: check_open(until, datetime(2027, 1, 1, tzinfo=SHANGHAI))) == "mall_ended"
    assert code(lambda: check_open(until, datetime(2026, 12, 31, 16, tzinfo=UTC))) == "mall_ended"  # the same midnight


def test_a_window_opening_at_shanghai_midnight_opens_at_1600_utc_the_day_before() -> None:
    opens = reward(redeem_from="2026-12-01T00:00:00+08:00")
    assert code(lambda: check_open(opens, datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC))) == "mall_not_started"
    check_open(opens, datetime(2026, 11, 30, 16, tzinfo=UTC))


def test_a_reward_is_shown_within_its_visible_window_only() -> None:
    shown = definition(visible_from="2026-12-01T00:00:00+08:00", visible_until="2026-12-01T23:59:59+08:00")
    assert not is_visible(shown, datetime(2026, 11, 30, 23, 59, 59, tzinfo=SHANGHAI))
    assert is_visible(shown, datetime(2026, 12, 1, 23, 59, 59, tzinfo=SHANGHAI))
    assert not is_visible(shown, datetime(2026, 12, 2, tzinfo=SHANGHAI))


def test_paused_before_the_window_and_a_cash_part_only_on_a_physical_gift() -> None:
    paused = reward(RewardStatus.PAUSED, redeem_from="2027-01-01T00:00:00+08:00", cash_fen=100)
    assert code(lambda: check_open(paused, NOON)) == "mall_reward_paused"
    later = reward(redeem_from="2027-01-01T00:00:00+08:00", cash_fen=100)
    assert code(lambda: check_open(later, NOON)) == "mall_not_started"
    assert check_open(reward(cash_fen=100), NOON) is None  # 积分+现金: the cash part through WeChat Pay
    codes = reward(cash_fen=100, item={"kind": "partner_code", "partner": "x"})
    assert code(lambda: check_open(codes, NOON)) == "mall_cash_physical_only"


# --- periods and limits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "day", "week", "month"),
    [
        (datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC), "2026-11-30", "2026-W49", "2026-11"),
        (datetime(2026, 11, 30, 16, 0, 0, tzinfo=UTC), "2026-12-01", "2026-W49", "2026-12"),
        (datetime(2027, 1, 1, 0, 0, 0, tzinfo=SHANGHAI), "2027-01-01", "2026-W53", "2027-01"),
        (datetime(2027, 1, 3, 23, 59, 59, tzinfo=SHANGHAI), "2027-01-03", "2026-W53", "2027-01"),
        (datetime(2027, 1, 4, 0, 0, 0, tzinfo=SHANGHAI), "2027-01-04", "2027-W01", "2027-01"),
    ],
)
def test_periods_are_shanghai_days_iso_weeks_and_months(instant: datetime, day: str, week: str, month: str) -> None:
    today = local_date(instant, "Asia/Shanghai")
    assert (period_key("day", today), period_key("week", today), period_key("month", today)) == (day, week, month)


def test_the_per_member_and_per_period_limits_hold_at_their_edge() -> None:
    limited = definition(per_member_limit=3, per_period_limit=2, period="day")
    check_limits(limited, MemberCount(1, "2026-11-22", 1), 1, "2026-11-22")
    assert code(lambda: check_limits(limited, MemberCount(2, "2026-11-22", 2), 1, "2026-11-22")) == (
        "mall_period_limit_reached"
    )
    check_limits(limited, MemberCount(2, "2026-11-21", 2), 1, "2026-11-22")  # yesterday's count is over
    assert code(lambda: check_limits(limited, MemberCount(3, "2026-11-21", 2), 1, "2026-11-22")) == (
        "mall_limit_reached"
    )
    assert code(lambda: check_limits(limited, MemberCount(), 4, "2026-11-22")) == "mall_limit_reached"


def test_a_count_moves_into_the_new_period_from_zero() -> None:
    assert MemberCount(5, "2026-10", 2).plus(1, "2026-11") == MemberCount(6, "2026-11", 1)
    assert MemberCount(5, "2026-11", 2).plus(2, "2026-11") == MemberCount(7, "2026-11", 4)


def test_a_member_needs_the_tier_and_the_programmes_minimum_balance() -> None:
    gold_only = definition(tiers=["gold"])
    with pytest.raises(MallTierRestricted):
        check_member(gold_only, "normal", 10_000, 0)
    with pytest.raises(BelowMinimumBalance):
        check_member(definition(), "normal", 499, 500)
    check_member(definition(), "normal", 500, 500)


def test_quantity_and_address_rules_name_their_field() -> None:
    physical = definition(item={"kind": "physical", "stock": 5, "max_quantity": 2})
    partner = definition(item={"kind": "partner_code", "partner": "x"})
    for call in (
        lambda: check_request(physical, 0, True),
        lambda: check_request(physical, 3, True),
        lambda: check_request(partner, 2, False),
    ):
        with pytest.raises(InvalidInput) as refused:
            call()
        assert refused.value.field == "quantity"
    for call in (lambda: check_request(physical, 1, False), lambda: check_request(partner, 1, True)):
        with pytest.raises(InvalidInput) as refused:
            call()
        assert refused.value.field == "address"
    check_request(physical, 2, True)


def test_the_listing_names_the_first_refusal_a_redemption_would_meet() -> None:
    none = MemberCount()
    assert refusal(reward(RewardStatus.PAUSED, tiers=["gold"]), "normal", 0, none, NOON, 0, "k") == "mall_reward_paused"
    assert refusal(reward(remaining=0, tiers=["gold"]), "normal", 0, none, NOON, 0, "k") == "mall_tier_restricted"
    assert refusal(reward(remaining=0), "normal", 0, none, NOON, 0, "k") == "mall_sold_out"
    assert refusal(reward(per_member_limit=1), "normal", 500, MemberCount(1, "k", 1), NOON, 0, "k") == (
        "mall_limit_reached"
    )
    assert refusal(reward(), "normal", 99, none, NOON, 0, "k") == "insufficient_points"
    assert refusal(reward(), "normal", 100, none, NOON, 0, "k") is None


# --- fulfilment steps -------------------------------------------------------------------------


def test_a_fulfilment_moves_pending_shipped_delivered_or_cancelled_while_pending() -> None:
    pending, shipped = RedemptionStatus.PENDING, RedemptionStatus.SHIPPED
    delivered, cancelled = RedemptionStatus.DELIVERED, RedemptionStatus.CANCELLED
    assert next_status(pending, "ship") == shipped and next_status(shipped, "ship") == shipped  # a correction
    assert next_status(shipped, "deliver") == delivered and next_status(delivered, "deliver") is None
    assert next_status(pending, "cancel") == cancelled and next_status(cancelled, "cancel") is None
    refusals = {
        (pending, "deliver"): "mall_not_shipped",
        (shipped, "cancel"): "mall_already_shipped",
        (delivered, "cancel"): "mall_already_shipped",
        (delivered, "ship"): "mall_fulfilment_closed",
        (cancelled, "ship"): "mall_fulfilment_closed",
        (RedemptionStatus.ISSUED, "cancel"): "mall_not_physical",
    }
    for (status, action), expected in refusals.items():
        with pytest.raises(MallRefused) as refused:
            next_status(status, action)  # type: ignore[arg-type]
        assert refused.value.code == expected, (status, action)


def test_a_redemption_id_is_stable_for_a_request_and_differs_between_requests() -> None:
    assert redemption_id("mall:m1:k1") == redemption_id("mall:m1:k1") != redemption_id("mall:m1:k2")
    assert redemption_id("mall:m1:k1").startswith("mr_") and len(redemption_id("x")) == 27


# --- the refund into lots --------------------------------------------------------------------------

TODAY = date(2026, 12, 4)


def test_points_go_back_to_their_own_lots_while_those_are_valid() -> None:
    taken = (TakenLot(date(2026, 12, 4), 30), TakenLot(date(2027, 1, 31), 70))
    refund = plan_refund(taken, TODAY, 0)
    assert (refund.adds, refund.repaid, refund.into_today) == ({date(2026, 12, 4): 30, date(2027, 1, 31): 70}, 0, 0)


def test_points_of_a_lot_past_its_date_join_a_lot_expiring_today() -> None:
    taken = (TakenLot(date(2026, 11, 30), 40), TakenLot(date(2026, 12, 4), 10), TakenLot(date(2027, 2, 28), 50))
    refund = plan_refund(taken, TODAY, 0)
    assert refund.adds == {TODAY: 50, date(2027, 2, 28): 50} and refund.into_today == 40


def test_debt_is_repaid_first_from_the_earliest_expiring_points_given_back() -> None:
    taken = (TakenLot(date(2026, 11, 30), 40), TakenLot(date(2027, 2, 28), 50))
    refund = plan_refund(taken, TODAY, 60)
    assert (refund.adds, refund.repaid) == ({date(2027, 2, 28): 30}, 60)
    assert plan_refund(taken, TODAY, 500).adds == {} and plan_refund(taken, TODAY, 500).repaid == 90


@given(
    st.lists(st.tuples(st.integers(-400, 400), st.integers(1, 10_000)), min_size=1, max_size=14),
    st.integers(0, 50_000),
)
def test_a_refund_gives_back_exactly_what_was_taken_never_into_a_lot_past_its_date(
    parts: list[tuple[int, int]], debt: int
) -> None:
    taken = tuple(TakenLot(TODAY + timedelta(days=offset), points) for offset, points in parts)
    refund = plan_refund(taken, TODAY, debt)
    assert sum(refund.adds.values()) + refund.repaid == sum(lot.points for lot in taken)
    assert refund.repaid == min(debt, sum(lot.points for lot in taken))
    assert all(day >= TODAY and points > 0 for day, points in refund.adds.items())
    assert refund.into_today == sum(lot.points for lot in taken if lot.expires_on < TODAY)
