"""Coupon rules (优惠券): each kind's maths around its threshold and cap in fen, validity at
Shanghai midnight, claim rules, definitions refused naming the field, stock shards, codes and
the signed QR payload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import coupon_codes, coupon_rules, coupon_stock, coupon_text
from chalicelib.domain.coupons import (
    Benefit,
    Channel,
    Coupon,
    CouponRefused,
    CouponStatus,
    Kind,
    Line,
    Scope,
    Stacking,
    TemplateStatus,
    Terms,
    TierRestricted,
    Validity,
    applies_at,
    can_combine,
    check_claimable,
    coupon_window,
    discount_fen,
    eligible_fen,
)
from chalicelib.domain.errors import InvalidInput

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=SHANGHAI)
TIERS = ["normal", "silver", "gold", "black"]


def definition(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "满200减30",
        "benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 3000},
        "validity": {"kind": "days_after_claim", "days": 7},
        "stock": 100,
    }
    return {**data, **changes}


def refused_field(data: dict[str, Any], now: datetime = NOW) -> str | None:
    with pytest.raises(InvalidInput) as refused:
        coupon_rules.check(coupon_rules.definition_from_dict(data), TIERS, now)
    return refused.value.field


# --- maths ---------------------------------------------------------------------------


@pytest.mark.parametrize(("eligible", "off"), [(19999, 0), (20000, 3000), (20001, 3000), (0, 0)])
def test_amount_off_applies_from_its_threshold_inclusive(eligible: int, off: int) -> None:
    benefit = Benefit(Kind.AMOUNT_OFF, threshold_fen=20000, amount_off_fen=3000)
    assert discount_fen(benefit, eligible) == off


@pytest.mark.parametrize(
    ("eligible", "off"),
    [(99, 9), (100, 10), (109, 10), (49999, 4999), (50000, 5000), (50010, 5000), (1_000_000, 5000)],
)
def test_percentage_is_rounded_down_to_the_fen_then_capped(eligible: int, off: int) -> None:
    benefit = Benefit(Kind.PERCENTAGE, rate_percent=90, cap_fen=5000)
    assert discount_fen(benefit, eligible) == off


def test_percentage_without_cap_and_below_its_threshold() -> None:
    benefit = Benefit(Kind.PERCENTAGE, rate_percent=85, threshold_fen=30000)
    assert discount_fen(benefit, 29999) == 0
    assert discount_fen(benefit, 30000) == 4500
    assert discount_fen(benefit, 33333) == 4999  # 4999.95 rounded down


@pytest.mark.parametrize(("kind", "eligible", "off"), [(Kind.VOUCHER, 2000, 2000), (Kind.VOUCHER, 2999, 2999),
                                                       (Kind.VOUCHER, 5000, 3000), (Kind.NO_THRESHOLD, 1, 1),
                                                       (Kind.NO_THRESHOLD, 3000, 3000)])  # fmt: skip
def test_vouchers_never_take_more_than_the_order_no_change_given(kind: Kind, eligible: int, off: int) -> None:
    assert discount_fen(Benefit(kind, amount_off_fen=3000), eligible) == off


def test_voucher_with_a_threshold_needs_it() -> None:
    benefit = Benefit(Kind.VOUCHER, amount_off_fen=3000, threshold_fen=10000)
    assert (discount_fen(benefit, 9999), discount_fen(benefit, 10000)) == (0, 3000)


def test_gift_takes_off_the_gift_line_price_above_its_threshold() -> None:
    benefit = Benefit(Kind.GIFT, gift_sku="SKU-TEA", threshold_fen=5000)
    assert discount_fen(benefit, 4999, gift_price_fen=1800) == 0
    assert discount_fen(benefit, 5000, gift_price_fen=1800) == 1800


def test_negative_amounts_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as refused:
        discount_fen(Benefit(Kind.NO_THRESHOLD, amount_off_fen=100), -1)
    assert refused.value.field == "amount_fen"


def test_eligible_amount_counts_lines_in_scope_by_sku_or_category() -> None:
    lines = [Line("A", 1000, "tea"), Line("B", 2000, "cake"), Line("C", 4000, None)]
    assert eligible_fen(Scope(), lines) == 7000
    assert eligible_fen(Scope(skus=("C",), categories=("tea",)), lines) == 5000


def test_channel_and_store_decide_where_a_coupon_applies() -> None:
    online = Terms("x", Benefit(Kind.NO_THRESHOLD, amount_off_fen=1), channel=Channel.MINI_PROGRAM)
    in_stores = Terms("x", Benefit(Kind.NO_THRESHOLD, amount_off_fen=1), scope=Scope(stores=("S1",)))
    assert applies_at(online, Channel.MINI_PROGRAM, None) and not applies_at(online, Channel.IN_STORE, "S1")
    assert applies_at(in_stores, Channel.IN_STORE, "S1") and not applies_at(in_stores, Channel.IN_STORE, "S2")
    assert not applies_at(in_stores, Channel.IN_STORE, None)
    assert applies_at(in_stores, Channel.MINI_PROGRAM, None)  # stores restrict in-store use only


def test_coupons_combine_across_groups_only_when_neither_is_exclusive() -> None:
    a, b = Stacking("a", exclusive=False), Stacking("b", exclusive=False)
    assert can_combine(a, b)
    assert not can_combine(a, Stacking("a", exclusive=False))
    assert not can_combine(a, Stacking("b", exclusive=True))


# --- validity ------------------------------------------------------------------------


def _coupon(valid_from: datetime, valid_until: datetime, status: CouponStatus = CouponStatus.UNUSED) -> Coupon:
    terms = Terms("x", Benefit(Kind.NO_THRESHOLD, amount_off_fen=1))
    return Coupon("cp", "m", "ct", "C", terms, valid_from, valid_until, status, "t", "claim")


@pytest.mark.parametrize(
    ("claimed", "last_day"),
    [
        (datetime(2026, 11, 22, 23, 59, 59, 900000, tzinfo=SHANGHAI), "2026-11-28"),
        (datetime(2026, 11, 23, 0, 0, 0, tzinfo=SHANGHAI), "2026-11-29"),
        (datetime(2026, 11, 22, 16, 0, tzinfo=UTC), "2026-11-29"),  # 00:00 on the 23rd in Shanghai
    ],
)
def test_seven_days_from_claim_end_at_2359_59_shanghai_of_the_seventh_day(claimed: datetime, last_day: str) -> None:
    start, until = coupon_window(Validity(days=7), claimed, "Asia/Shanghai")
    assert start == claimed
    assert until.astimezone(SHANGHAI).isoformat() == f"{last_day}T23:59:59+08:00"


def test_a_coupon_is_usable_through_its_last_second_and_expired_at_midnight() -> None:
    until = datetime(2026, 11, 28, 23, 59, 59, tzinfo=SHANGHAI)
    coupon = _coupon(NOW, until)
    assert coupon.usable_at(until + timedelta(milliseconds=999))
    midnight = datetime(2026, 11, 29, tzinfo=SHANGHAI)
    assert coupon.status_at(midnight) == CouponStatus.EXPIRED and not coupon.usable_at(midnight)
    assert not coupon.usable_at(NOW - timedelta(seconds=1))  # before its window
    used = _coupon(NOW, until, CouponStatus.USED)
    assert used.status_at(midnight) == CouponStatus.USED


def test_claim_rules_paused_window_tier_and_an_expired_fixed_window() -> None:
    base = coupon_rules.definition_from_dict(
        definition(claim_from="2026-11-22T09:00:00+08:00", claim_until="2026-11-22T20:59:59+08:00", tiers=["gold"])
    )
    check_claimable(base, TemplateStatus.ACTIVE, "gold", NOW)
    cases = [
        (TemplateStatus.PAUSED, "gold", NOW, "coupon_paused"),
        (TemplateStatus.ACTIVE, "gold", NOW.replace(hour=8, minute=59), "coupon_claim_not_started"),
        (TemplateStatus.ACTIVE, "gold", NOW.replace(hour=21), "coupon_claim_ended"),
    ]
    for status, tier, now, code in cases:
        with pytest.raises(CouponRefused) as refused:
            check_claimable(base, status, tier, now)
        assert refused.value.code == code
    with pytest.raises(TierRestricted) as restricted:
        check_claimable(base, TemplateStatus.ACTIVE, "normal", NOW)
    assert restricted.value.field == "tiers"
    fixed = coupon_rules.definition_from_dict(
        definition(
            validity={
                "kind": "fixed",
                "valid_from": "2026-11-01T00:00:00+08:00",
                "valid_until": "2026-11-22T09:59:59+08:00",
            }
        )  # fmt: skip
    )
    with pytest.raises(CouponRefused) as over:
        check_claimable(fixed, TemplateStatus.ACTIVE, "gold", NOW)
    assert over.value.field == "validity.valid_until"


# --- definitions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 0}}, "benefit.amount_off_fen"),
        ({"benefit": {"kind": "amount_off", "threshold_fen": -1, "amount_off_fen": 1}}, "benefit.threshold_fen"),
        ({"benefit": {"kind": "amount_off", "threshold_fen": 100, "amount_off_fen": 101}}, "benefit.amount_off_fen"),
        ({"benefit": {"kind": "percentage", "rate_percent": 101}}, "benefit.rate_percent"),
        ({"benefit": {"kind": "percentage", "rate_percent": 100}}, "benefit.rate_percent"),
        ({"benefit": {"kind": "percentage", "rate_percent": 0}}, "benefit.rate_percent"),
        ({"benefit": {"kind": "percentage", "rate_percent": 90, "cap_fen": 0}}, "benefit.cap_fen"),
        ({"benefit": {"kind": "percentage", "rate_percent": 90, "amount_off_fen": 5}}, "benefit.amount_off_fen"),
        ({"benefit": {"kind": "no_threshold", "amount_off_fen": 100, "threshold_fen": 1}}, "benefit.threshold_fen"),
        ({"benefit": {"kind": "voucher", "amount_off_fen": -5}}, "benefit.amount_off_fen"),
        ({"benefit": {"kind": "gift"}}, "benefit.gift_sku"),
        ({"benefit": {"kind": "cashback", "amount_off_fen": 1}}, "benefit.kind"),
        ({"benefit": {"kind": "voucher", "amount_off_fen": True}}, "benefit.amount_off_fen"),
        ({"stock": 0}, "stock"),
        ({"stock": 10_000_001}, "stock"),
        ({"per_member_limit": 1, "per_member_daily_limit": 2}, "per_member_daily_limit"),
        ({"per_member_limit": 0}, "per_member_limit"),
        ({"tiers": ["diamond"]}, "tiers"),
        ({"name": "   "}, "name"),
        ({"validity": {"kind": "days_after_claim", "days": 0}}, "validity.days"),
        ({"validity": {"kind": "forever"}}, "validity.kind"),
        (
            {
                "validity": {
                    "kind": "fixed",
                    "valid_from": "2026-12-01T00:00:00+08:00",
                    "valid_until": "2026-11-30T23:59:59+08:00",
                }
            },
            "validity.valid_until",
        ),  # fmt: skip
        (
            {
                "validity": {
                    "kind": "fixed",
                    "valid_from": "2026-11-01T00:00:00+08:00",
                    "valid_until": "2026-11-21T23:59:59+08:00",
                }
            },
            "validity.valid_until",
        ),  # fmt: skip
        (
            {
                "validity": {
                    "kind": "fixed",
                    "valid_from": "2026-11-01T00:00:00",
                    "valid_until": "2026-12-21T23:59:59+08:00",
                }
            },
            "validity.valid_from",
        ),  # fmt: skip
        ({"claim_from": "2026-11-23T00:00:00+08:00", "claim_until": "2026-11-22T00:00:00+08:00"}, "claim_until"),
        (
            {
                "validity": {
                    "kind": "fixed",
                    "valid_from": "2026-11-01T00:00:00+08:00",
                    "valid_until": "2026-12-01T23:59:59+08:00",
                },
                "claim_until": "2026-12-02T00:00:00+08:00",
            },
            "claim_until",
        ),  # fmt: skip
        ({"scope": {"skus": ["ok", "not ok"]}}, "scope.skus"),
        ({"scope": {"stores": ["s"] * 201}}, "scope.stores"),
        ({"stacking": {"group": "Bad Group"}}, "stacking.group"),
        ({"channel": "wechat_pay"}, "channel"),
    ],
)
def test_a_bad_definition_is_refused_naming_its_field(changes: dict[str, Any], field: str) -> None:
    assert refused_field(definition(**changes)) == field


def test_a_definition_survives_its_stored_form() -> None:
    data = definition(
        benefit={"kind": "percentage", "rate_percent": 90, "cap_fen": 5000, "threshold_fen": 0},
        scope={"skus": ["A", "A", "B"], "categories": [], "stores": ["S1"]},
        tiers=["gold"],
        per_member_limit=2,
        per_member_daily_limit=1,
    )
    parsed = coupon_rules.definition_from_dict(data)
    assert parsed.terms.scope.skus == ("A", "B")  # duplicates dropped
    assert coupon_rules.definition_from_dict(coupon_rules.to_dict(parsed)) == parsed


# --- stock shards --------------------------------------------------------------------


@pytest.mark.parametrize(("stock", "explicit", "shards"), [(1, None, 1), (500, None, 1), (501, None, 2),
                                                           (10_000, None, 20), (10_000_000, None, 32), (10, 4, 4)])  # fmt: skip
def test_shard_count_follows_the_stock_up_to_32(stock: int, explicit: int | None, shards: int) -> None:
    assert coupon_stock.shard_count(stock, explicit) == shards


def test_a_flash_sale_of_10000_claims_in_10_seconds_needs_4_shards_with_headroom() -> None:
    assert coupon_stock.shards_for(10_000, 10) == 4  # 1,000 claims/s × 2 write units × 2 headroom ÷ 1,000
    assert coupon_stock.shards_for(10_000, 10, headroom=1) == 2


@given(st.lists(st.integers(0, 1000), min_size=1, max_size=32), st.integers(0, 40_000))
def test_lowering_takes_what_the_shards_hold_the_fullest_first(remaining: list[int], amount: int) -> None:
    takes = coupon_stock.plan_lowering(remaining, amount)
    if amount > sum(remaining):
        assert takes is None
        return
    assert takes is not None and sum(takes) == amount
    assert all(0 <= take <= left for take, left in zip(takes, remaining, strict=True))
    after = [left - take for take, left in zip(takes, remaining, strict=True)]
    touched = [a for a, t in zip(after, takes, strict=True) if t]
    assert not touched or min(touched) >= max(after) - 1  # levelled: nothing left above the cut


@given(st.integers(0, 10_000_000), st.integers(1, 32))
def test_spread_shares_evenly(amount: int, shards: int) -> None:
    parts = coupon_stock.spread(amount, shards)
    assert sum(parts) == amount and max(parts) - min(parts) <= 1


# --- codes and the QR payload ---------------------------------------------------------


def test_a_code_is_65_bits_and_a_check_character_that_catches_every_single_slip() -> None:
    code = coupon_codes.new_code()
    assert len(code) == 14 and coupon_codes.normalise(code) == code
    for position in range(14):
        for char in coupon_codes.ALPHABET:
            if char != code[position]:
                slipped = code[:position] + char + code[position + 1 :]
                with pytest.raises(InvalidInput):
                    coupon_codes.normalise(slipped)


def test_swapped_neighbours_are_caught() -> None:
    body = "0123456789ABC"
    code = body + coupon_codes.check_character(body)
    for position in range(13):
        swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
        with pytest.raises(InvalidInput):
            coupon_codes.normalise(swapped)


def test_a_typed_code_reads_with_look_alikes_lower_case_and_hyphens() -> None:
    body = "0123456789ABC"
    code = body + coupon_codes.check_character(body)
    typed = "o" + code[1:4].lower() + "-" + code[4:8] + " " + code[8:]
    assert coupon_codes.normalise(typed.replace("1", "l")) == code


KEY = b"k" * 32


def test_a_payload_names_its_code_until_it_expires() -> None:
    code = coupon_codes.new_code()
    signed = coupon_codes.sign(code, 1000.5, KEY, valid=90, refresh=60)
    assert signed.expires_at == 1090 and signed.refresh_after == 60
    assert coupon_codes.read(signed.payload, 1089.9, KEY) == code
    with pytest.raises(InvalidInput) as expired:
        coupon_codes.read(signed.payload, 1090, KEY)
    assert (expired.value.code, expired.value.field) == ("coupon_payload_expired", "payload")


def _tampered(payload: str, other: str) -> list[str]:
    prefix, code, expires, signature = payload.split(".")
    return [
        f"{prefix}.{other}.{expires}.{signature}",
        f"{prefix}.{code}.{int(expires) + 3600}.{signature}",
        f"{prefix}.{code}.{expires}.{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",
        f"{prefix}.{code}.{expires}.{signature}é",
        f"{prefix}.{code}.{'9' * 5000}.{signature}",
        f"{prefix}.{code}.{expires}",
        "c1." + "." * 5000,
    ]


def test_a_tampered_payload_or_another_key_is_refused_naming_payload() -> None:
    code, other = coupon_codes.new_code(), coupon_codes.new_code()
    signed = coupon_codes.sign(code, 1000, KEY, valid=90, refresh=60)
    for payload in _tampered(signed.payload, other):
        with pytest.raises(InvalidInput) as refused:
            coupon_codes.read(payload, 1001, KEY)
        assert (refused.value.field, refused.value.code) == ("payload", "coupon_payload_invalid"), payload
    with pytest.raises(InvalidInput):
        coupon_codes.read(signed.payload, 1001, b"another key")


# --- what a member reads -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("benefit", "headline"),
    [
        (Benefit(Kind.AMOUNT_OFF, threshold_fen=20000, amount_off_fen=3000), "满200减30"),
        (Benefit(Kind.PERCENTAGE, rate_percent=90, cap_fen=5000), "9折 最高减50元"),
        (Benefit(Kind.PERCENTAGE, rate_percent=85, threshold_fen=29990), "满299.9元享8.5折"),
        (Benefit(Kind.VOUCHER, amount_off_fen=2950), "29.5元代金券"),
        (Benefit(Kind.NO_THRESHOLD, amount_off_fen=1005), "无门槛减10.05元"),
        (Benefit(Kind.GIFT, gift_sku="SKU-TEA", gift_name="柠檬茶"), "兑换券：柠檬茶"),
    ],
)
def test_headlines_read_as_chinese_shops_write_them(benefit: Benefit, headline: str) -> None:
    assert coupon_text.headline(benefit) == headline


def test_template_rules_say_the_window_limits_and_tiers() -> None:
    parsed = coupon_rules.definition_from_dict(
        definition(tiers=["gold", "black"], per_member_limit=2, per_member_daily_limit=1, channel="in_store")
    )
    rules = coupon_text.template_rules(parsed, {"gold": "金卡", "black": "黑金"}, "Asia/Shanghai")
    assert rules[0] == "订单满200元减30元"
    assert "仅限门店使用" in rules and "每人限领2张" in rules and "每人每天限领1张" in rules
    assert "仅限金卡、黑金会员领取" in rules
    assert any("23:59:59" in line and "7天" in line for line in rules)
    assert "不可与其他优惠券同时使用" in rules
