"""Points gifts (积分转赠) under concurrency against the embedded moto server: the giver's day
counter moves in the gift's own transaction, so racing gifts never pass the daily limit nor
the balance; gifts crossing between two members, replays racing, and a refund racing a gift
all leave both members reconciled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib.domain import ledger as kinds
from chalicelib.domain.errors import InsufficientPoints
from chalicelib.domain.gifts import GiftDailyLimitReached
from chalicelib.domain.members import Member
from chalicelib.services import gifts, member_codes, orders, points
from chalicelib.services.reconcile import reconcile
from chalicelib.store import members_repo, points_repo
from tests.support.programme import publish_with
from tests.support.race import race

THREADS = 8
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # noon in Shanghai


def _member(member_id: str, balance: int = 0) -> str:
    """The member's code."""
    members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:{member_id}"])
    if balance:
        points.earn(member_id, balance, points.operation(f"seed:{member_id}", {"seed": balance}, NOW))
    return member_codes.code_of(member_id, NOW)


def _give(giver: str, to_code: str, amount: int, key: str) -> Callable[[], gifts.GiftResult]:
    return lambda: gifts.give(giver, to_code, amount, None, key, NOW)


def _balance(member_id: str) -> int:
    return members_repo.get_member(member_id).balance


def test_eight_racing_gifts_of_one_giver_never_pass_the_daily_limit(tables: None) -> None:
    publish_with("gift", {"enabled": True, "daily_limit_points": 1000})
    _member("m_giver", balance=5000)
    codes = [_member(f"m_to_{n}") for n in range(THREADS)]

    outcomes = race([_give("m_giver", code, 300, f"k-{n}") for n, code in enumerate(codes)])

    seen = Counter(type(outcome).__name__ for outcome in outcomes)
    assert seen == {"GiftResult": 3, "GiftDailyLimitReached": 5}, outcomes
    assert all(o.field == "points" for o in outcomes if isinstance(o, GiftDailyLimitReached))
    received = sum(_balance(f"m_to_{n}") for n in range(THREADS))
    assert received == 900 and _balance("m_giver") == 5000 - 900
    assert list(reconcile(["m_giver", *(f"m_to_{n}" for n in range(THREADS))])) == []


def test_eight_racing_gifts_draining_one_balance_never_take_it_below_zero(tables: None) -> None:
    publish_with("gift", {"enabled": True, "daily_limit_points": 10_000})
    _member("m_drain", balance=500)
    to = _member("m_sink")

    outcomes = race([_give("m_drain", to, 120, f"d-{n}") for n in range(THREADS)])

    seen = Counter(type(outcome).__name__ for outcome in outcomes)
    assert seen == {"GiftResult": 4, "InsufficientPoints": 4}, outcomes
    assert all(o.field == "points" for o in outcomes if isinstance(o, InsufficientPoints))
    assert (_balance("m_drain"), _balance("m_sink")) == (20, 480)
    assert min(e.balance_after for e in points_repo.iter_member_entries("m_drain")) >= 0
    assert list(reconcile(["m_drain", "m_sink"])) == []


def test_gifts_crossing_between_two_members_at_once_all_land(tables: None) -> None:
    publish_with("gift", {"enabled": True})
    code_a, code_b = _member("m_a", balance=200), _member("m_b", balance=200)
    calls = [_give("m_a", code_b, 10 + n, f"ab-{n}") for n in range(THREADS // 2)]
    calls += [_give("m_b", code_a, 20 + n, f"ba-{n}") for n in range(THREADS // 2)]

    outcomes = race(calls)

    assert all(isinstance(outcome, gifts.GiftResult) for outcome in outcomes), outcomes
    a_to_b, b_to_a = sum(10 + n for n in range(4)), sum(20 + n for n in range(4))
    assert _balance("m_a") == 200 - a_to_b + b_to_a and _balance("m_b") == 200 - b_to_a + a_to_b
    assert len(list(points_repo.iter_member_entries("m_a", kind=kinds.GIFT_IN))) == 4
    assert list(reconcile(["m_a", "m_b"])) == []


def test_racing_replays_of_one_key_give_once(tables: None) -> None:
    publish_with("gift", {"enabled": True})
    _member("m_rep", balance=100)
    to = _member("m_rep_to")

    outcomes = race([_give("m_rep", to, 40, "same") for _ in range(THREADS)])

    assert all(isinstance(outcome, gifts.GiftResult) for outcome in outcomes), outcomes
    assert len({outcome.gift_id for outcome in outcomes if isinstance(outcome, gifts.GiftResult)}) == 1
    assert (_balance("m_rep"), _balance("m_rep_to")) == (60, 40)
    assert list(reconcile(["m_rep", "m_rep_to"])) == []


def test_a_refund_of_the_source_order_racing_the_gift_leaves_both_reconciled(tables: None) -> None:
    publish_with("gift", {"enabled": True})
    _member("m_src")
    to = _member("m_src_to")
    ref = orders.MemberRef(member_id="m_src")
    orders.record_order("SRC-R", ref, 10_000, NOW, None, NOW, pos_client="pos-1")

    gift, refund = race(
        [
            _give("m_src", to, 60, "race"),
            lambda: orders.refund_order("SRC-R", None, None, NOW, pos_client="pos-1"),
        ]
    )

    assert not isinstance(refund, Exception), refund
    giver = members_repo.get_member("m_src")
    if isinstance(gift, gifts.GiftResult):  # the gift first: the refund leaves debt for what was given
        assert (giver.balance, giver.debt, _balance("m_src_to")) == (-60, 60, 60)
    else:  # the refund first: nothing left to give
        assert isinstance(gift, InsufficientPoints), gift
        assert (giver.balance, giver.debt, _balance("m_src_to")) == (0, 0, 0)
    assert list(reconcile(["m_src", "m_src_to"])) == []
