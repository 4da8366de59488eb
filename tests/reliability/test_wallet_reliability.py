"""Stored value (储值) under concurrency and faults against the embedded moto server and the fake
WeChat Pay: five copies of a notification at once, the notification racing the settle job,
payments racing one wallet, top-ups racing the card's limit, refunds racing one top-up, and a
store fault in the middle of a credit — each has exactly one effect, no purse goes below zero,
and every wallet reconciles."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from botocore.exceptions import EndpointConnectionError

from chalicelib import clock
from chalicelib.domain.wallet import Split, Wallet, plan_spend
from chalicelib.jobs import topups as settle_job
from chalicelib.services import wallet_refunds
from chalicelib.services.wallet import commit_with_wallet, reconcile_wallet
from chalicelib.store import topups_repo, wallet_repo
from chalicelib.store.tx import UnitOfWork
from tests.support.api import Api
from tests.support.faults import Injector, inject, unreachable
from tests.support.race import race
from tests.support.wallet import FakePay, paid_topup, topup, wallet

pytest_plugins = ["tests.support.wechatpay"]  # the fake WeChat Pay's fixtures: pay, pay_server


def _notification(pay: FakePay, topup_id: str) -> tuple[bytes, dict[str, str]]:
    resource = {k: v for k, v in pay.state.orders[topup_id].items() if not k.startswith("_")}
    body, _ = pay.notification("TRANSACTION.SUCCESS", resource)
    return body, pay.headers(body)


def _principal_lines(member_id: str) -> list[int]:
    return [e.delta for e in wallet_repo.iter_entries(member_id) if e.purse == "principal"]


def _spend(member_id: str, amount: int, ref: str) -> Callable[[], Wallet]:
    """A checkout's wallet part as it will commit it: planned from the wallet read, staged with
    `stage_debit`, planned again when another payment moved the wallet first."""

    def pay_from_wallet() -> Wallet:
        def stage(tx: UnitOfWork, found: Wallet, _attempt: int) -> Wallet:
            split: Split = plan_spend(found.balances, amount, "proportional")
            return wallet_repo.stage_debit(tx, found, split, ref, clock.iso(clock.utc_now()), prefix="")

        return commit_with_wallet(member_id, stage)

    return pay_from_wallet


def test_five_copies_of_a_notification_at_once_credit_once(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    topup(api, token, 100_000, key="other")  # another top-up pending in the same wallet
    topup_id = topup(api, token, 50_000).json_body["topup_id"]
    pay.state.pay(topup_id, notify=False)
    same = _notification(pay, topup_id)
    copies = [same] * 3 + [_notification(pay, topup_id) for _ in range(2)]  # and two with other ids

    answers = race([lambda c=c: pay.post(c[0], c[1]).status_code for c in copies])

    assert answers == [204] * 5, answers
    assert _principal_lines(member_id) == [50_000]
    assert (wallet(api, token)["principal_fen"], wallet(api, token)["bonus_fen"]) == (50_000, 5_000)
    assert reconcile_wallet(member_id) is None


def test_a_copy_that_read_the_top_up_before_another_credited_it_and_the_wallet_after_credits_nothing(
    api: Api, pay: FakePay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worst interleaving, forced: the wallet it reads already holds the credit, and still
    counts enough pending (another top-up) to look consistent; only the top-up's own condition
    in the credit's transaction refuses the second credit."""
    from chalicelib.services import topups, wallet

    token, member_id = api.login("alice")
    topup(api, token, 100_000, key="other")
    topup_id = topup(api, token, 50_000).json_body["topup_id"]
    order = pay.state.pay(topup_id, notify=False)
    read_wallet, interleaved = wallet.wallet_repo.get_wallet, []

    def get_wallet(member: str) -> Wallet:
        if not interleaved:
            interleaved.append("started")  # the other copy, whole, between our two reads
            interleaved[0] = topups.settle_paid(topup_id, order, clock.utc_now(), "query")
        return read_wallet(member)

    monkeypatch.setattr(wallet.wallet_repo, "get_wallet", get_wallet)
    outcome = topups.settle_paid(topup_id, order, clock.utc_now(), "notify")

    assert (interleaved, outcome) == (["credited"], "already")
    assert _principal_lines(member_id) == [50_000]
    assert reconcile_wallet(member_id) is None


def test_the_notification_racing_the_settle_job_credits_once(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    topup_id = topup(api, token, 50_000).json_body["topup_id"]
    pay.state.pay(topup_id, notify=False)
    body, headers = _notification(pay, topup_id)
    later = clock.utc_now() + timedelta(minutes=6)

    outcomes = race(
        [
            lambda: pay.post(body, headers).status_code,
            lambda: settle_job.run(later),
            lambda: pay.post(body, headers).status_code,
        ]
    )

    assert outcomes[0] == outcomes[2] == 204, outcomes
    assert _principal_lines(member_id) == [50_000]
    assert reconcile_wallet(member_id) is None


def test_racing_payments_never_take_a_purse_below_zero(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    paid_topup(api, pay, token, 50_000)  # 50,000 + 5,000

    outcomes = race([_spend(member_id, 10_000, f"order:o-{n}") for n in range(8)])

    kinds = Counter(type(o).__name__ for o in outcomes)
    assert kinds == {"Wallet": 5, "InsufficientBalance": 3}, outcomes
    left = wallet_repo.get_wallet(member_id)
    assert left.balances.total == 5_000 and left.principal >= 0 and left.bonus >= 0
    assert reconcile_wallet(member_id) is None


def test_top_ups_racing_the_cards_limit_never_pass_it(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")

    answers = race([lambda n=n: topup(api, token, 200_000, key=f"t-{n}") for n in range(5)])  # each +15,000

    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {201: 2, 409: 3}, [a.body for a in answers]
    assert wallet_repo.get_wallet(member_id).pending_fen == 2 * 215_000
    assert reconcile_wallet(member_id) is None


def test_refunds_racing_for_one_top_up_refund_its_principal_once(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    topup_id = paid_topup(api, pay, token, 50_000)
    now = clock.utc_now()

    outcomes = race(
        [lambda n=n: wallet_refunds.request(member_id, topup_id, None, 50_000, f"r-{n}", now) for n in range(4)]
    )
    pay.state.deliveries.wait()

    refunded = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [getattr(o, "code", type(o).__name__) for o in outcomes if isinstance(o, Exception)]
    assert len(refunded) == 1 and set(refused) <= {"refund_nothing_refundable", "refund_quote_changed"}, outcomes
    assert len(pay.state.refunds) == 1
    assert wallet_repo.get_wallet(member_id).balances.total == 0
    assert reconcile_wallet(member_id) is None


def test_the_store_unreachable_mid_credit_is_503_and_the_resend_credits_once(
    api: Api, pay: FakePay, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, member_id = api.login("alice")
    topup_id = topup(api, token, 50_000).json_body["topup_id"]
    pay.state.pay(topup_id, notify=False)
    body, headers = _notification(pay, topup_id)

    with inject(monkeypatch, Injector("TransactWriteItems", lambda _: unreachable(EndpointConnectionError), None)):
        first = pay.post(body, headers)
    resent = pay.post(body, pay.headers(body))

    assert first.status_code == 503 and first.json_body["code"] == "FAIL"
    assert resent.status_code == 204
    assert _principal_lines(member_id) == [50_000]
    assert topups_repo.get_topup(topup_id).settled_by == "notify"  # type: ignore[union-attr]
    assert reconcile_wallet(member_id) is None


def test_a_settle_run_during_an_outage_changes_nothing_and_the_next_run_settles_each_once(
    api: Api, pay: FakePay, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, member_id = api.login("alice")
    ids = [topup(api, token, 10_000, key=f"t-{n}").json_body["topup_id"] for n in range(3)]
    for topup_id in ids:
        pay.state.pay(topup_id, notify=False)
    later = clock.utc_now() + timedelta(minutes=6)

    with inject(monkeypatch, Injector("TransactWriteItems", lambda _: unreachable(EndpointConnectionError), None)):
        during = settle_job.run(later)
    credited_during = _principal_lines(member_id)
    after = settle_job.run(later)
    again = settle_job.run(later)

    assert during == {"topup_failed": 3} and credited_during == []
    assert after == {"topup_credited": 3} and again == {}
    assert _principal_lines(member_id) == [10_000] * 3
    assert wallet_repo.get_wallet(member_id).pending_fen == 0
    assert reconcile_wallet(member_id) is None
