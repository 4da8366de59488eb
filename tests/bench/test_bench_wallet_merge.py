"""What the wallet (储值) costs in a member merge (会员合并): DynamoDB requests and transaction items
per wallet move (the merged wallet's purses and k pending top-ups: one transaction of 2 wallets,
a line per purse on each side and the k top-ups), what the wallet step adds to a merge of a
member who never topped up (one read), and what following the merge costs afterwards: the pay
notification of a re-pointed top-up, and the survivor's refund of the merged member's top-up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from chalicelib import clock
from chalicelib.services import identity, wallet_merge
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row
from tests.support.api import Api, dumps, member_headers
from tests.support.wallet import FakePay, paid_topup, topup

pytestmark = pytest.mark.bench
pytest_plugins = ["tests.support.wechatpay"]  # the fake WeChat Pay's fixtures: pay, pay_server


def _merge(survivor: str, merged: str) -> None:
    now = clock.utc_now()
    identity.merge_members(survivor, merged, trigger="admin", now=now, operator="alice", approved_by="bob")


def _points_step_only(monkeypatch: pytest.MonkeyPatch, survivor: str, merged: str) -> None:
    monkeypatch.setattr(wallet_merge, "merged", lambda *_: None)
    _merge(survivor, merged)
    monkeypatch.undo()


def _requests(tally: Tally) -> dict[str, object]:
    return {"requests_seen": tally.as_dict()}


@contextmanager
def card_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The member card's read per wallet changed (store/wallet_repo.py stages its sync since the
    member card work): counted apart, so the figures below are the wallet move's own."""
    try:
        from chalicelib.store import member_card_repo
    except ImportError:  # pragma: no cover - without the member card, nothing to count
        yield []
        return
    seen: list[str] = []
    original = member_card_repo.holds_card

    def counted(member_id: str) -> bool:
        seen.append(member_id)
        return original(member_id)

    monkeypatch.setattr(member_card_repo, "holds_card", counted)
    yield seen
    monkeypatch.setattr(member_card_repo, "holds_card", original)


@pytest.mark.parametrize("pending", [0, 1, 3])
def test_bench_one_wallet_move(api: Api, pay: FakePay, monkeypatch: pytest.MonkeyPatch, pending: int) -> None:
    _, a = api.login("bwm-a")
    token_b, b = api.login("bwm-b")
    paid_topup(api, pay, token_b, 50_000)  # principal and bonus
    for n in range(pending):
        topup(api, token_b, 1_000, key=f"p{n}")
    _points_step_only(monkeypatch, a, b)

    with card_checks(monkeypatch) as cards, count_dynamodb() as tally:
        moved = wallet_merge.move_wallet(b, a, clock.utc_now())

    assert moved.topups == pending
    tx = tally.requests["TransactWriteItems"]
    own = tally.total_requests - len(cards)
    wanted = 5 + (1 if pending else 0)  # 2 wallets, the merged member and its survivor, [pending query], tx
    row(f"wallet move, {pending} pending top-ups: requests (2 wallets, 2 members, pending query, tx)",
        f"{own} (+{len(cards)} card)", f"{wanted}", own == wanted and tx == 1, **_requests(tally))  # fmt: skip
    row(f"wallet move, {pending} pending top-ups: transaction items (2 wallets, 4 lines, top-ups)",
        tally.items_written, f"{6 + pending}", tally.items_written == 6 + pending)  # fmt: skip


def test_bench_wallet_step_of_a_merge_without_a_wallet(api: Api, pay: FakePay) -> None:
    _, a = api.login("bwm-a")
    _, b = api.login("bwm-b")
    now = clock.utc_now()

    with count_dynamodb() as tally:
        moved = wallet_merge.merged(b, a, now)

    assert moved.principal == moved.bonus == moved.pending == 0
    row("merge, the wallet step for a member who never topped up: requests (its wallet)",
        tally.total_requests, "1", tally.total_requests == 1 and tally.items_written == 0, **_requests(tally))  # fmt: skip


def test_bench_following_the_merge_notify_and_refund(api: Api, pay: FakePay, monkeypatch: pytest.MonkeyPatch) -> None:
    token_a, a = api.login("bwm-a")
    token_b, b = api.login("bwm-b")
    paid = paid_topup(api, pay, token_b, 50_000, key="paid")
    pending = topup(api, token_b, 10_000, key="pending").json_body["topup_id"]
    _merge(a, b)
    pay.state.pay(pending, notify=False)
    resource = {k: v for k, v in pay.state.orders[pending].items() if not k.startswith("_")}
    body = pay.notification("TRANSACTION.SUCCESS", resource)[0]

    with card_checks(monkeypatch) as cards, count_dynamodb() as notified:
        assert pay.post(body).status_code == 204
    quote = api.http.get(f"/v1/wallet/topups/{paid}/refund-quote", headers=member_headers(token_a)).json_body
    headers = member_headers(token_a, **{"Idempotency-Key": "r-1"})
    with count_dynamodb() as refunded:
        response = api.http.post(
            f"/v1/wallet/topups/{paid}/refunds", body=dumps({"cash_fen": quote["cash_fen"]}), headers=headers
        )
        pay.state.deliveries.wait()

    assert response.status_code == 201, response.body
    own = notified.total_requests - len(cards)
    row("pay notify of a top-up a merge re-pointed: requests (envelope, top-up, wallet, tx)",
        f"{own} (+{len(cards)} card)", "≤ 4", own <= 4, **_requests(notified))  # fmt: skip
    row("survivor's refund of a merged member's top-up, with its notification: requests",
        refunded.total_requests, "recorded", True, **_requests(refunded))  # fmt: skip
