"""Checkout under concurrency, replays and faults: one order confirmed at once from many
threads has one effect; two orders racing for one coupon or one wallet never overdraw it; a
confirm whose transaction is refused at any one of its items writes nothing (no coupon used
without the points taken, and the reverse) and succeeds when retried; a cancel racing itself
gives back once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.domain.checkout import Ask, CheckoutLine, PayWith
from chalicelib.domain.coupons import Channel
from chalicelib.domain.errors import DomainError
from chalicelib.jobs import topups as settle_job
from chalicelib.services import checkout, checkout_cancel
from chalicelib.services.checkout import Basket
from chalicelib.services.orders import MemberRef
from chalicelib.services.reconcile import reconcile_member
from chalicelib.services.wallet import reconcile_wallet
from chalicelib.store import checkout_repo, coupons_repo, members_repo, wallet_repo
from chalicelib.store.models import OutboxModel
from tests.integration.test_checkout import earn, fund, snapshot
from tests.integration.test_coupon_redemption import held, template
from tests.support.api import POS_ID, Api
from tests.support.faults import poisoned_item
from tests.support.race import race, retrying
from tests.support.wallet import FakePay, enable_wallet

pytest_plugins = ["tests.support.wechatpay"]

LINES = (CheckoutLine("l1", "coffee", 20_000, "drinks"), CheckoutLine("l2", "cake", 10_000, "food"))


def ask(member_id: str, order_id: str, codes: tuple[str, ...] = (), points: int = 0, wallet_fen: int = 0) -> Basket:
    return Basket(
        order_id, MemberRef(member_id=member_id), "s1", Channel.IN_STORE,
        Ask(LINES, 30_000, codes, points, wallet_fen), PayWith.COUNTER,
    )  # fmt: skip


@pytest.fixture
def member(api: Api) -> str:
    enable_wallet()
    _, member_id = api.login("alice")
    earn(api, member_id, 500_000)
    return member_id


def outcomes(results: list[Any]) -> list[str]:
    return sorted("ok" if not isinstance(r, Exception) else getattr(r, "code", type(r).__name__) for r in results)


def test_one_order_confirmed_from_eight_threads_has_one_effect(api: Api, member: str) -> None:
    fund(member, 10_000)
    coupon = held(api, "alice", template(api, "t1"))[1]
    basket = ask(member, "o-1", (coupon["code"],), points=1_000, wallet_fen=5_000)
    now = clock.utc_now()  # after the claim: the coupon is valid from then

    results = race([lambda: retrying(lambda: checkout.confirm(basket, None, POS_ID, now))] * 8)

    assert outcomes(results) == ["ok"] * 8
    assert len({r.fingerprint for r in results}) == 1
    assert members_repo.get_member(member).balance == 4_000
    assert wallet_repo.get_wallet(member).balances.total == 5_000
    assert coupons_repo.find_by_code(coupon["code"]).order_id == "o-1"  # type: ignore[union-attr]
    assert reconcile_member(member) is None and reconcile_wallet(member) is None


def test_two_orders_racing_for_one_coupon_one_wins_and_the_other_takes_nothing(api: Api, member: str) -> None:
    coupon = held(api, "alice", template(api, "t1"))[1]
    now = clock.utc_now()
    baskets = [ask(member, f"o-{n}", (coupon["code"],), points=500) for n in range(4)]

    results = race([lambda b=b: retrying(lambda: checkout.confirm(b, None, POS_ID, now)) for b in baskets])

    assert outcomes(results) == ["coupon_already_used"] * 3 + ["ok"]
    assert members_repo.get_member(member).balance == 4_500  # only the winner's points
    assert sum(checkout_repo.get(f"o-{n}") is not None for n in range(4)) == 1


def test_orders_racing_for_one_wallet_never_overdraw_it(api: Api, member: str) -> None:
    fund(member, 10_000, 2_000)
    now = clock.utc_now()
    baskets = [ask(member, f"o-{n}", wallet_fen=5_000) for n in range(4)]

    results = race([lambda b=b: retrying(lambda: checkout.confirm(b, None, POS_ID, now)) for b in baskets])

    won = [r for r in results if not isinstance(r, Exception)]
    assert len(won) == 2  # 12,000 fen holds two payments of 5,000
    assert all(isinstance(r, DomainError) for r in results if isinstance(r, Exception))
    wallet = wallet_repo.get_wallet(member)
    assert wallet.balances.total == 2_000 and wallet.principal >= 0 and wallet.bonus >= 0
    assert reconcile_wallet(member) is None


def test_a_confirm_refused_at_any_one_item_writes_nothing_and_a_retry_takes_each_part_once(
    api: Api, member: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fund(member, 10_000)
    template_id = template(api, "t1")
    index, sizes = 0, [1]
    while index < max(sizes):
        coupon = held(api, "alice", template_id, key=f"c{index}")[1]
        basket = ask(member, f"o-{index}", (coupon["code"],), points=100, wallet_fen=100)
        before = snapshot(member)
        with poisoned_item(monkeypatch, index) as poisoned, pytest.raises(DomainError):
            checkout.confirm(basket, None, POS_ID, clock.utc_now())
        assert poisoned, f"item {index}: no transaction was poisoned"
        sizes = poisoned
        assert snapshot(member)[:-1] == before[:-1] and checkout_repo.get(f"o-{index}") is None, f"item {index}"
        assert coupons_repo.find_by_code(coupon["code"]).status == "unused"  # type: ignore[union-attr]
        with poisoned_item(monkeypatch, index, times=1):
            try:  # refused once, planned again: done
                made = checkout.confirm(basket, None, POS_ID, clock.utc_now())
            except DomainError:  # the entry's own refusal reads as "made already": the POS retries
                made = checkout.confirm(basket, None, POS_ID, clock.utc_now())
        assert made.points == 100 and made.wallet_fen == 100
        index += 1
    assert index >= 8  # member, entry, lot, coupon, its event, wallet, its line, the checkout
    assert reconcile_member(member) is None and reconcile_wallet(member) is None


def test_a_cancel_racing_itself_gives_back_once(api: Api, member: str) -> None:
    fund(member, 10_000)
    coupon = held(api, "alice", template(api, "t1"))[1]
    before = snapshot(member)
    now = clock.utc_now()
    checkout.confirm(ask(member, "o-1", (coupon["code"],), points=1_000, wallet_fen=4_000), None, POS_ID, now)

    results = race([lambda: retrying(lambda: checkout_cancel.cancel("o-1", POS_ID, now))] * 6)

    assert outcomes(results) == ["ok"] * 6
    after = snapshot(member)
    assert (after[0], after[2], after[3], after[5]) == (before[0], before[2], before[3], before[5])
    assert reconcile_member(member) is None and reconcile_wallet(member) is None


def test_a_held_checkouts_notification_five_times_at_once_and_the_settle_job_settle_it_once(
    api: Api, member: str, pay: FakePay
) -> None:
    held_checkout = checkout.confirm(
        Basket("o-1", MemberRef(member_id=member), "s1", Channel.IN_STORE, Ask(LINES, 30_000, (), 1_000, 0),
               PayWith.WECHAT_PAY), None, POS_ID, clock.utc_now())  # fmt: skip
    trade_no = held_checkout.trade_no or ""
    pay.state.pay(trade_no, notify=False)
    resource = {k: v for k, v in pay.state.orders[trade_no].items() if not k.startswith("_")}
    copies = [pay.notification("TRANSACTION.SUCCESS", resource)[0] for _ in range(2)]
    copies = [copies[0]] * 3 + copies[1:] * 2
    later = clock.utc_now() + timedelta(minutes=6)

    outcomes = race([*(lambda b=b: pay.post(b).status_code for b in copies), lambda: settle_job.run(later)])

    assert outcomes[:5] == [204] * 5, outcomes
    found = checkout_repo.get("o-1")
    assert found is not None and found.status == "paid" and found.version == 3  # made, prepay id, paid: once
    paid_events = [item for item in OutboxModel.scan() if item.kind == "checkout.paid"]
    assert len(paid_events) == 1


def test_refunds_of_every_line_at_once_give_back_each_part_and_the_coupon_exactly_once(api: Api, member: str) -> None:
    from chalicelib.services import orders

    fund(member, 10_000, 2_000)
    coupon = held(api, "alice", template(api, "t1"))[1]
    now = clock.utc_now()
    made = checkout.confirm(ask(member, "o-1", (coupon["code"],), points=1_000, wallet_fen=9_000), None, POS_ID, now)
    halves = [("l1", 10_000), ("l1", 10_000), ("l2", 5_000), ("l2", 5_000)]

    results = race([
        lambda n=n, line=line, fen=fen: retrying(lambda: orders.refund_order(
            "o-1", f"r{n}", None, now, POS_ID, lines={line: fen}))
        for n, (line, fen) in enumerate(halves)
    ])  # fmt: skip

    assert outcomes(results) == ["ok"] * 4, results
    assert sum(r.points_returned for r in results) == made.points
    assert sum(r.wallet_fen for r in results) == made.wallet_fen
    assert sum(len(r.coupons_returned) for r in results) == 1
    wallet = wallet_repo.get_wallet(member)
    assert (wallet.principal, wallet.bonus) == (10_000, 2_000)
    assert reconcile_member(member) is None and reconcile_wallet(member) is None
