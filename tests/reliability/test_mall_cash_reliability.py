"""Points + cash gifts under replays, concurrency and faults: a payment notification sent 5 times
or 5 at once settles the gift once; the settle job racing a notification settles it once; a
cancel racing a payment ends either paid-then-cancelled-with-a-refund or cancelled-then-refunded,
never the money kept without the gift; a settle whose transaction meets a conflict commits once
on its retry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.domain.mall_redemptions import refund_no, trade_no
from chalicelib.jobs import topups as settle_job
from chalicelib.services import mall, mall_pay
from chalicelib.store import mall_redemptions_repo
from chalicelib.store.models import OutboxModel
from tests.integration.test_mall import balance, clean, member, remaining
from tests.integration.test_mall_cash import CASH, gift, made
from tests.support.api import Api
from tests.support.faults import Injector, inject, transaction_conflict
from tests.support.race import race
from tests.support.wallet import FakePay

pytest_plugins = ["tests.support.wechatpay"]


def paid_order(api: Api, pay: FakePay, name: str) -> tuple[str, str, dict[str, Any]]:
    """A gift redeemed and paid at WeChat Pay, its notification not delivered: member, id, order."""
    reward_id = gift(api)
    token, member_id = member(api, name)
    rid = made(api, token, reward_id)["redemption_id"]
    order = pay.pay(trade_no(rid), notify=False)
    return member_id, rid, order


def status(member_id: str, rid: str) -> str:
    found = mall_redemptions_repo.get(member_id, rid)
    assert found is not None
    return found.status.value


def paid_events(rid: str) -> int:
    return sum(1 for item in OutboxModel.scan() if item.kind == mall_pay.PAID_EVENT and rid in item.event_id)


def refunds_of(pay: FakePay, rid: str) -> list[dict[str, Any]]:
    return [refund for refund in pay.state.refunds.values() if refund["out_trade_no"] == trade_no(rid)]


def test_a_notification_five_times_and_five_at_once_settles_once(api: Api, pay: FakePay) -> None:
    member_id, rid, order = paid_order(api, pay, "copies")
    now = clock.utc_now()

    at_once = race([lambda: mall_pay.settle_paid(trade_no(rid), order, now, "notify") for _ in range(5)])
    for _ in range(5):
        pay.state.notify_payment(trade_no(rid))
    pay.state.deliveries.wait()

    assert sorted(at_once) == ["already"] * 4 + ["paid"], at_once
    assert status(member_id, rid) == "pending" and paid_events(rid) == 1
    assert pay.state.refunds == {}
    clean()


def test_the_settle_job_racing_the_notification_settles_once(api: Api, pay: FakePay) -> None:
    member_id, rid, order = paid_order(api, pay, "job-race")
    later = clock.utc_now() + timedelta(minutes=6)

    job, notified = race([lambda: settle_job.run(later), lambda: mall_pay.settle_paid(trade_no(rid), order, later,
                                                                                      "notify")])  # fmt: skip

    # The job may find it settled already (out of its index) or settle it first: paid once either way.
    assert job.get("mall_paid", 0) + (notified == "paid") == 1, (job, notified)
    assert notified in ("paid", "already") and job.get("mall_failed", 0) == 0
    assert status(member_id, rid) == "pending" and paid_events(rid) == 1
    clean()


def test_a_cancel_racing_the_payment_never_keeps_the_money_without_the_gift(api: Api, pay: FakePay) -> None:
    member_id, rid, order = paid_order(api, pay, "cancel-race")
    now = clock.utc_now()

    cancelled, notified = race([lambda: mall.cancel_mine(member_id, rid, None, now),
                                lambda: mall_pay.settle_paid(trade_no(rid), order, now, "notify")])  # fmt: skip

    if status(member_id, rid) == "pending":  # the cancel met the payment (409): a paid gift, kept with its money
        assert getattr(cancelled, "code", None) == "mall_paid_meanwhile", cancelled
        assert refunds_of(pay, rid) == []
        mall.cancel_mine(member_id, rid, None, now)  # cancelled as a paid gift
    assert status(member_id, rid) == "cancelled", (cancelled, notified)
    refunds = refunds_of(pay, rid)
    assert [r["out_refund_no"] for r in refunds] == [refund_no(rid)] and refunds[0]["amount"]["refund"] == CASH
    assert balance(member_id) == 1000
    clean()


def test_payments_landing_at_once_after_the_cancel_are_refunded_once(api: Api, pay: FakePay) -> None:
    reward_id = gift(api)
    token, member_id = member(api, "late-copies")
    rid = made(api, token, reward_id)["redemption_id"]
    now = clock.utc_now()
    mall.cancel_mine(member_id, rid, None, now)  # unpaid: its order closed first
    pay.state.orders[trade_no(rid)]["trade_state"] = "NOTPAY"  # the member's payment was already under way
    order = pay.pay(trade_no(rid), notify=False)

    answers = race([lambda: mall_pay.settle_paid(trade_no(rid), order, now, "notify") for _ in range(5)])

    assert answers == ["refunded"] * 5, answers  # each copy asks; WeChat Pay answers the one refund
    refunds = refunds_of(pay, rid)
    assert len(refunds) == 1 and refunds[0]["amount"]["refund"] == CASH
    assert (status(member_id, rid), balance(member_id), remaining(reward_id)) == ("cancelled", 1000, 10)
    clean()


def test_a_settle_meeting_a_transaction_conflict_commits_once_on_its_retry(
    api: Api, pay: FakePay, monkeypatch: pytest.MonkeyPatch
) -> None:
    member_id, rid, order = paid_order(api, pay, "conflict")
    conflict = Injector("TransactWriteItems", lambda kw: transaction_conflict(len(kw["TransactItems"])), times=1)

    with inject(monkeypatch, conflict) as rule:
        answer = mall_pay.settle_paid(trade_no(rid), order, clock.utc_now(), "notify")

    assert rule.injected == 1 and answer == "paid"
    assert status(member_id, rid) == "pending" and paid_events(rid) == 1
    clean()
