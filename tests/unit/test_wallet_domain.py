"""Stored-value rules (储值), pure: top-up offers as tiers in time boxes, the spending order, the
card's limit, refund maths at the edges, ledger lines, and the notification signature checks."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.topups import PaymentMismatch, Topup, check_payment, topup_id
from chalicelib.domain.wallet import (
    Balances,
    EntryKind,
    InsufficientBalance,
    Purse,
    RefundRefused,
    TopupRefunds,
    TopupStatus,
    Wallet,
    WalletChange,
    WalletDisabled,
    WalletLimitReached,
    after_refund,
    apply_change,
    check_refundable,
    check_topup,
    plan_spend,
    quote_refund,
)
from chalicelib.domain.wallet_rules import TopupOffer, WalletRules, offer_for
from chalicelib.wechat.pay_signature import NotificationRefused, decrypt_resource, verify, verifying_keys
from local import wechatpay_keys as wk

TODAY = date(2026, 11, 22)
KEYS = wk.generate_keys()


def _rules(**changes: Any) -> WalletRules:
    document: dict[str, Any] = {
        "enabled": True,
        "topup_rules": [
            {"code": "base", "name": "充500送50", "tiers": [{"min_fen": 50_000, "bonus_fen": 5_000},
                                                           {"min_fen": 100_000, "bonus_fen": 15_000}]},
        ],
    }  # fmt: skip
    return WalletRules.model_validate({**document, **changes}, strict=False)


# --- offers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "bonus"), [(49_999, 0), (50_000, 5_000), (99_999, 5_000), (100_000, 15_000), (500_000, 15_000)]
)
def test_the_highest_tier_reached_gives_its_bonus_once_not_per_multiple(amount: int, bonus: int) -> None:
    assert offer_for(_rules(), amount, TODAY).bonus_fen == bonus


def test_overlapping_offers_do_not_add_up_the_best_one_wins_and_a_tie_goes_to_the_first() -> None:
    rules = _rules(topup_rules=[
        {"code": "a", "name": "A", "tiers": [{"min_fen": 10_000, "bonus_fen": 1_000}]},
        {"code": "b", "name": "B", "tiers": [{"min_fen": 10_000, "bonus_fen": 2_000}]},
        {"code": "c", "name": "C", "tiers": [{"min_fen": 10_000, "bonus_fen": 2_000}]},
    ])  # fmt: skip

    assert offer_for(rules, 10_000, TODAY) == TopupOffer(10_000, 2_000, "b")


def test_an_offer_is_in_force_from_its_first_day_to_its_last_inclusive() -> None:
    rule = {"code": "d11", "name": "双11", "starts_on": "2026-11-11", "ends_on": "2026-11-11",
            "tiers": [{"min_fen": 100, "bonus_fen": 10}]}  # fmt: skip
    rules = _rules(topup_rules=[rule])

    seen = [offer_for(rules, 100, date(2026, 11, d)).bonus_fen for d in (10, 11, 12)]

    assert seen == [0, 10, 0]


@pytest.mark.parametrize(
    "broken",
    [
        {"tiers": [{"min_fen": 100, "bonus_fen": 101}]},  # more bonus than the amount
        {"tiers": [{"min_fen": 200, "bonus_fen": 1}, {"min_fen": 100, "bonus_fen": 1}]},  # not rising
        {"tiers": []},
        {"starts_on": "2026-12-01", "ends_on": "2026-11-01", "tiers": [{"min_fen": 1, "bonus_fen": 0}]},
    ],
    ids=["bonus-over-amount", "tiers-not-rising", "no-tiers", "ends-before-start"],
)
def test_a_broken_offer_is_refused_by_the_programme(broken: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _rules(topup_rules=[{"code": "x", "name": "X", **broken}])


def test_the_limit_cannot_be_configured_above_the_named_card_rule() -> None:
    with pytest.raises(ValidationError):
        _rules(max_balance_fen=500_001)
    with pytest.raises(ValidationError):
        _rules(min_topup_fen=10_000, max_topup_fen=5_000)


# --- limits ----------------------------------------------------------------------------------------


def test_the_card_holds_at_most_its_limit_counting_pending_top_ups_and_the_bonus() -> None:
    rules = _rules()
    offer = offer_for(rules, 50_000, TODAY)  # + 5,000

    check_topup(rules, offer, Balances(400_000, 20_000), pending_fen=25_000)  # exactly 500,000
    with pytest.raises(WalletLimitReached):
        check_topup(rules, offer, Balances(400_000, 20_000), pending_fen=25_001)


def test_a_top_up_when_stored_value_is_off_is_refused() -> None:
    with pytest.raises(WalletDisabled):
        check_topup(_rules(enabled=False), TopupOffer(100, 0, None), Balances(0, 0), 0)


@pytest.mark.parametrize("amount", [99, 500_001])
def test_a_top_up_outside_min_and_max_names_amount_fen(amount: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_topup(_rules(min_topup_fen=100), TopupOffer(amount, 0, None), Balances(0, 0), 0)
    assert refused.value.field == "amount_fen"


# --- spending --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "split"),
    [
        ("principal_first", (700, 0)),
        ("bonus_first", (400, 300)),
        ("proportional", (539, 161)),
    ],  # bonus floor(700 × 300 / 1,300) = 161
)
def test_a_payment_splits_by_the_configured_order(order: str, split: tuple[int, int]) -> None:
    planned = plan_spend(Balances(1_000, 300), 700, order)  # type: ignore[arg-type]

    assert (planned.principal, planned.bonus) == split


def test_a_payment_larger_than_the_wallet_is_refused() -> None:
    with pytest.raises(InsufficientBalance):
        plan_spend(Balances(100, 50), 151, "principal_first")


@given(
    principal=st.integers(0, 500_000),
    bonus=st.integers(0, 500_000),
    share=st.floats(0, 1),
    order=st.sampled_from(["principal_first", "bonus_first", "proportional"]),
)
def test_a_split_adds_up_and_never_takes_more_than_a_purse_holds(
    principal: int, bonus: int, share: float, order: str
) -> None:
    amount = max(1, int((principal + bonus) * share))
    if principal + bonus == 0:
        return
    planned = plan_spend(Balances(principal, bonus), amount, order)  # type: ignore[arg-type]

    assert planned.total == amount
    assert 0 <= planned.principal <= principal and 0 <= planned.bonus <= bonus


# --- ledger lines ----------------------------------------------------------------------------------


def test_a_change_writes_one_line_per_purse_moved_each_with_that_purses_balance() -> None:
    wallet = Wallet("m1", principal=100, bonus=10, seq=4, version=7)

    moved, lines = apply_change(wallet, WalletChange(EntryKind.TOPUP, "topup:t", 500, 0), "at")

    assert (moved.principal, moved.bonus, moved.seq, moved.version) == (600, 10, 5, 8)
    assert [(e.seq, e.purse, e.delta, e.balance_after) for e in lines] == [(5, Purse.PRINCIPAL, 500, 600)]


def test_no_change_takes_a_purse_below_zero() -> None:
    with pytest.raises(InsufficientBalance):
        apply_change(Wallet("m1", principal=100, bonus=10), WalletChange(EntryKind.SPEND, "o", -50, -11), "at")


# --- refunds ---------------------------------------------------------------------------------------


def test_only_unspent_principal_is_refundable_and_the_bonus_goes_back_in_proportion() -> None:
    topup = TopupRefunds(50_000, 5_000)

    quote = quote_refund(topup, Balances(30_000, 5_000))

    assert (quote.principal_fen, quote.bonus_due_fen, quote.bonus_taken_fen, quote.cash_fen) == (
        30_000,
        3_000,
        3_000,
        30_000,
    )


def test_the_proportional_bonus_rounds_down_for_the_member() -> None:
    quote = quote_refund(TopupRefunds(30_000, 1_000), Balances(30_000, 1_000), principal_fen=1)

    assert quote.bonus_due_fen == 0  # 1 × 1,000 / 30,000 = 0.03 fen


def test_partial_refunds_round_once_over_the_whole_so_refunding_everything_takes_the_whole_bonus() -> None:
    topup, balances, taken = TopupRefunds(30_000, 1_000), Balances(30_000, 1_000), 0
    for part in (10_001, 9_999, 10_000):
        quote = quote_refund(topup, balances, principal_fen=part)
        taken += quote.bonus_due_fen
        topup = after_refund(topup, quote)
        balances = Balances(balances.principal - part, balances.bonus - quote.bonus_taken_fen)

    assert taken == 1_000 and balances == Balances(0, 0)
    with pytest.raises(RefundRefused):
        quote_refund(topup, balances)


def test_bonus_already_spent_is_deducted_from_the_cash_and_a_refund_of_nothing_is_refused() -> None:
    quote = quote_refund(TopupRefunds(50_000, 5_000), Balances(50_000, 1_000))
    assert (quote.bonus_taken_fen, quote.deducted_fen, quote.cash_fen) == (1_000, 4_000, 46_000)

    with pytest.raises(RefundRefused) as refused:  # a 100 % bonus all spent: nothing left to pay out
        quote_refund(TopupRefunds(100, 100), Balances(100, 0))
    assert refused.value.code == "refund_nothing_to_pay"


def test_a_refund_asks_for_at_most_the_refundable_principal() -> None:
    with pytest.raises(InvalidInput) as refused:
        quote_refund(TopupRefunds(50_000, 0), Balances(20_000, 0), principal_fen=20_001)
    assert refused.value.field == "principal_fen"


def test_a_closed_refund_gives_the_top_ups_tallies_back_exactly() -> None:
    topup = TopupRefunds(50_000, 5_000, 10_000, 1_000)
    quote = quote_refund(topup, Balances(40_000, 4_000), principal_fen=7_777)

    assert after_refund(after_refund(topup, quote), quote, -1) == topup


@given(
    amount=st.integers(1, 500_000), bonus_share=st.integers(0, 100), parts=st.lists(st.integers(1, 500_000), max_size=6)
)
def test_refunds_never_pay_out_more_than_principal_nor_take_more_bonus_than_held(
    amount: int, bonus_share: int, parts: list[int]
) -> None:
    bonus = amount * bonus_share // 100
    topup, balances = TopupRefunds(amount, bonus), Balances(amount, bonus)
    for part in parts:
        try:
            quote = quote_refund(topup, balances, principal_fen=min(part, amount - topup.refunded_principal_fen))
        except (RefundRefused, InvalidInput):
            break
        assert 1 <= quote.cash_fen <= quote.principal_fen and 0 <= quote.bonus_taken_fen <= balances.bonus
        topup = after_refund(topup, quote)
        balances = Balances(balances.principal - quote.principal_fen, balances.bonus - quote.bonus_taken_fen)
    assert topup.bonus_due_fen == topup.refunded_principal_fen * bonus // amount


def test_a_top_up_is_refundable_only_when_paid_and_within_a_year() -> None:
    paid = datetime(2026, 1, 1, tzinfo=UTC)
    check_refundable(TopupStatus.PAID, paid.isoformat(), paid + timedelta(days=365))
    with pytest.raises(RefundRefused) as late:
        check_refundable(TopupStatus.PAID, paid.isoformat(), paid + timedelta(days=365, seconds=1))
    with pytest.raises(RefundRefused) as pending:
        check_refundable(TopupStatus.PENDING, None, paid)
    assert (late.value.code, pending.value.code) == ("refund_window_passed", "topup_not_paid")


# --- payments WeChat Pay reports -------------------------------------------------------------------


def _topup() -> Topup:
    return Topup(topup_id("m1", "k1"), "m1", "o1", 50_000, 5_000, "base", 1, TopupStatus.PENDING, "f", "c", "e")


def test_a_payment_is_this_orders_only_with_our_merchant_app_order_and_full_amount() -> None:
    topup = _topup()
    paid = {"mchid": "mch", "appid": "app", "out_trade_no": topup.topup_id, "transaction_id": "42",
            "amount": {"total": 50_000, "currency": "CNY"}}  # fmt: skip

    assert check_payment(topup, paid, "mch", "app") == "42"
    for wrong in ({"mchid": "x"}, {"appid": "x"}, {"out_trade_no": "x"}, {"amount": {"total": 49_999}},
                  {"amount": {"total": 50_000, "currency": "USD"}}, {"transaction_id": ""}):  # fmt: skip
        with pytest.raises(PaymentMismatch):
            check_payment(topup, {**paid, **wrong}, "mch", "app")


def test_a_top_up_id_is_a_valid_out_trade_no_and_stable_per_member_and_key() -> None:
    first = topup_id("m1", "k:1")

    assert first == topup_id("m1", "k:1") != topup_id("m1", "k:2") != topup_id("m2", "k:1")
    assert 6 <= len(first) <= 32 and first.isalnum()


# --- notification signatures -----------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def _keys() -> dict[str, Any]:
    return verifying_keys(KEYS.platform_public_key, KEYS.public_key_id, KEYS.platform_cert, NOW)


def _signed(body: bytes, stamp: int, mode: str = wk.PUBLIC_KEY) -> dict[str, str]:
    return {k.lower(): v for k, v in wk.signed_headers(KEYS, mode, body, stamp).items()}


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_a_signature_within_five_minutes_either_way_verifies(offset: int) -> None:
    body = b'{"id":"n"}'
    verify(_signed(body, int(NOW.timestamp()) + offset), body, NOW.timestamp(), _keys(), 300)


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_signature_just_outside_five_minutes_is_stale(offset: int) -> None:
    body = b'{"id":"n"}'
    with pytest.raises(NotificationRefused) as refused:
        verify(_signed(body, int(NOW.timestamp()) + offset), body, NOW.timestamp(), _keys(), 300)
    assert refused.value.reason == "stale_timestamp"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"wechatpay-signature": "WECHATPAY/SIGNTEST/abc"}, "signature_probe"),
        ({"wechatpay-serial": "PUB_KEY_ID_UNKNOWN"}, "unknown_serial"),
        ({"wechatpay-signature": base64.b64encode(b"x" * 256).decode()}, "bad_signature"),
        ({"wechatpay-signature": "not base64!"}, "bad_signature"),
        ({"wechatpay-timestamp": "１２３"}, "signature_missing"),  # full-width digits are digits to isdigit()
        ({"wechatpay-nonce": ""}, "signature_missing"),
    ],
    ids=["probe", "unknown-serial", "other-key", "not-base64", "unicode-digits", "no-nonce"],
)
def test_each_signature_check_names_its_reason(change: dict[str, str], reason: str) -> None:
    body = b'{"id":"n"}'
    headers = {**_signed(body, int(NOW.timestamp())), **change}
    with pytest.raises(NotificationRefused) as refused:
        verify(headers, body, NOW.timestamp(), _keys(), 300)
    assert refused.value.reason == reason


def test_a_certificate_serial_verifies_and_an_expired_certificate_is_not_a_key() -> None:
    body = b"{}"
    verify(_signed(body, int(NOW.timestamp()), wk.CERTIFICATE), body, NOW.timestamp(), _keys(), 300)
    after_expiry = verifying_keys("", "", KEYS.platform_cert, datetime(2100, 1, 1, tzinfo=UTC))
    assert after_expiry == {}


def test_a_resource_decrypts_only_with_its_key_nonce_and_associated_data() -> None:
    resource = wk.encrypt_resource(KEYS.apiv3_key, {"out_trade_no": "wt1"}, "transaction")
    assert decrypt_resource(resource, KEYS.apiv3_key) == {"out_trade_no": "wt1"}
    for broken in ({"associated_data": "refund"}, {"nonce": "000000000000"}, {"algorithm": "AES_128"}):
        with pytest.raises(NotificationRefused):
            decrypt_resource({**resource, **broken}, KEYS.apiv3_key)
    with pytest.raises(NotificationRefused):
        decrypt_resource(resource, "k" * 32)
    assert json.loads(json.dumps(resource))["algorithm"] == "AEAD_AES_256_GCM"
