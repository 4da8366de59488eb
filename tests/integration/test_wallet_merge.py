"""Stored value through a member merge (会员合并): the survivor holds the merged member's principal,
bonus and pending top-ups, each side with a ledger line per purse, in one transaction; a top-up
paid after the merge credits the survivor; the merged member's top-ups stay refundable by the
survivor; a refund closed after the merge gives its amounts back to the survivor; a retried merge
moves nothing twice; the move may exceed the card's limit, and top-ups wait until below it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.jobs import topups as settle_job
from chalicelib.services import identity, wallet_merge
from chalicelib.services.wallet import reconcile_wallet
from chalicelib.settings import get_settings
from chalicelib.store import topups_repo, wallet_repo
from tests.bench.counting import count_dynamodb
from tests.support.api import Api, dumps, member_headers
from tests.support.wallet import FakePay, paid_topup, topup, wallet

pytest_plugins = ["tests.support.wechatpay"]  # the fake WeChat Pay's fixtures: pay, pay_server


def merge(survivor: str, merged: str) -> None:
    identity.merge_members(survivor, merged, trigger="admin", now=clock.utc_now(), operator="alice", approved_by="bob")


def balances(member_id: str) -> tuple[int, int, int]:
    found = wallet_repo.get_wallet(member_id)
    return found.principal, found.bonus, found.pending_fen


def lines(member_id: str) -> list[tuple[str, str, int, int, str]]:
    return [(str(e.purse), str(e.kind), e.delta, e.balance_after, e.ref) for e in wallet_repo.iter_entries(member_id)]


def spend(member_id: str, amount: int, ref: str) -> None:
    """A checkout's debit, as it stages it (tests/integration/test_wallet.py does the same)."""
    from chalicelib.services.wallet import plan_payment
    from chalicelib.store.tx import UnitOfWork

    found, split = plan_payment(member_id, amount)
    tx = UnitOfWork(get_settings().region)
    wallet_repo.stage_debit(tx, found, split, ref, clock.iso(clock.utc_now()))
    tx.commit()


def refund(api: Api, token: str, topup_id: str, key: str = "r-1") -> Any:
    quote = api.http.get(f"/v1/wallet/topups/{topup_id}/refund-quote", headers=member_headers(token))
    assert quote.status_code == 200, quote.body
    headers = member_headers(token, **{"Idempotency-Key": key})
    body = dumps({"cash_fen": quote.json_body["cash_fen"]})
    return api.http.post(f"/v1/wallet/topups/{topup_id}/refunds", body=body, headers=headers)


def test_a_merge_moves_both_purses_and_the_pending_top_ups_with_a_line_per_purse_on_each_side(
    api: Api, pay: FakePay
) -> None:
    token_a, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    paid_topup(api, pay, token_a, 10_000)  # no bonus
    paid_topup(api, pay, token_b, 50_000)  # + 5,000
    pending_id = topup(api, token_b, 20_000, key="t-2").json_body["topup_id"]

    merge(a, b)

    assert balances(b) == (0, 0, 0)
    assert balances(a) == (60_000, 5_000, 20_000)
    assert lines(b)[-2:] == [
        ("principal", "merge_out", -50_000, 0, f"merge:{b}:out"),
        ("bonus", "merge_out", -5_000, 0, f"merge:{b}:out"),
    ]
    assert lines(a)[-2:] == [
        ("principal", "merge_in", 50_000, 60_000, f"merge:{b}:in"),
        ("bonus", "merge_in", 5_000, 5_000, f"merge:{b}:in"),
    ]
    assert [e.detail for e in wallet_repo.iter_entries(a)][-1] == {"merged_id": b}
    assert [e.detail for e in wallet_repo.iter_entries(b)][-1] == {"survivor_id": a}
    assert topups_repo.get_topup(pending_id).member_id == a  # type: ignore[union-attr]
    assert reconcile_wallet(a) is None and reconcile_wallet(b) is None


def test_a_top_up_paid_after_the_merge_credits_the_survivor_and_the_pending_total_follows(
    api: Api, pay: FakePay
) -> None:
    _, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    pending_id = topup(api, token_b, 50_000).json_body["topup_id"]
    merge(a, b)

    pay.pay(pending_id)

    assert balances(a) == (50_000, 5_000, 0) and balances(b) == (0, 0, 0)
    assert [kind for _, kind, _, _, _ in lines(a)] == ["topup", "topup"]
    assert topups_repo.get_topup(pending_id).status == "paid"  # type: ignore[union-attr]
    assert reconcile_wallet(a) is None and reconcile_wallet(b) is None


def test_a_top_up_the_settle_job_finds_paid_after_the_merge_credits_the_survivor(api: Api, pay: FakePay) -> None:
    _, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    pending_id = topup(api, token_b, 10_000).json_body["topup_id"]
    pay.pay(pending_id, notify=False)  # the notification is lost
    merge(a, b)

    counts = settle_job.run(clock.utc_now() + timedelta(minutes=6))

    assert counts == {"topup_credited": 1}
    assert balances(a) == (10_000, 0, 0) and balances(b) == (0, 0, 0)
    assert reconcile_wallet(a) is None and reconcile_wallet(b) is None


def test_an_unpaid_top_up_of_the_merged_member_closes_on_the_survivors_wallet(api: Api, pay: FakePay) -> None:
    _, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    topup(api, token_b, 10_000)
    merge(a, b)

    counts = settle_job.run(clock.utc_now() + timedelta(minutes=16))

    assert counts == {"topup_closed": 1}
    assert balances(a) == (0, 0, 0) and balances(b) == (0, 0, 0)
    assert reconcile_wallet(a) is None and reconcile_wallet(b) is None


def test_a_top_up_closed_unpaid_before_the_merge_and_paid_late_credits_the_survivor(api: Api, pay: FakePay) -> None:
    _, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    topup_id = topup(api, token_b, 10_000).json_body["topup_id"]
    order = pay.state.orders[topup_id]
    pay.state.pay(topup_id, notify=False)
    order["trade_state"] = "CLOSED"  # answered as closed to the job: it closes the top-up
    settle_job.run(clock.utc_now() + timedelta(minutes=16))
    order["trade_state"] = "SUCCESS"
    merge(a, b)

    pay.state.notify_payment(topup_id)
    pay.state.deliveries.wait()

    assert balances(a) == (10_000, 0, 0) and balances(b) == (0, 0, 0)
    assert reconcile_wallet(a) is None and reconcile_wallet(b) is None


def test_the_survivor_refunds_the_merged_members_top_up_from_its_own_wallet(api: Api, pay: FakePay) -> None:
    token_a, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    topup_id = paid_topup(api, pay, token_b, 50_000)
    merge(a, b)

    response = refund(api, token_a, topup_id)
    pay.state.deliveries.wait()

    assert response.status_code == 201, response.body
    found = topups_repo.get_refund(response.json_body["refund_id"])
    assert found is not None and found.member_id == a and found.status == "success"
    assert pay.state.refunds[found.refund_id]["amount"]["refund"] == 50_000
    assert balances(a) == (0, 0, 0) and balances(b) == (0, 0, 0)
    assert topups_repo.get_topup(topup_id).member_id == b  # type: ignore[union-attr]
    read = api.http.get(f"/v1/wallet/topups/{topup_id}", headers=member_headers(token_a))
    assert read.status_code == 200 and read.json_body["refunded_principal_fen"] == 50_000
    assert reconcile_wallet(a) is None and reconcile_wallet(b) is None


def test_a_refund_under_way_at_the_merge_and_closed_after_it_gives_back_to_the_survivor(api: Api, pay: FakePay) -> None:
    _, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    topup_id = paid_topup(api, pay, token_b, 50_000)
    pay.state.refund_outcome = None  # WeChat Pay keeps it PROCESSING
    refund_id = refund(api, token_b, topup_id).json_body["refund_id"]
    assert balances(b) == (0, 0, 0)
    merge(a, b)

    pay.state.finish_refund(refund_id, "CLOSED")
    pay.state.deliveries.wait()

    assert topups_repo.get_refund(refund_id).status == "closed"  # type: ignore[union-attr]
    assert balances(a) == (50_000, 5_000, 0) and balances(b) == (0, 0, 0)
    assert [kind for _, kind, _, _, _ in lines(a)] == ["refund_return", "refund_return"]
    assert reconcile_wallet(a) is None and reconcile_wallet(b) is None


def test_another_members_top_up_stays_not_found_after_a_merge(api: Api, pay: FakePay) -> None:
    token_a, a = api.login("wm-a")
    _, b = api.login("wm-b")
    token_c, _ = api.login("wm-c")
    topup_id = paid_topup(api, pay, token_c, 10_000)
    merge(a, b)

    quote = api.http.get(f"/v1/wallet/topups/{topup_id}/refund-quote", headers=member_headers(token_a))

    assert quote.status_code == 404


def test_a_top_up_started_with_the_merged_members_token_after_the_merge_is_the_survivors(
    api: Api, pay: FakePay
) -> None:
    _, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    merge(a, b)

    topup_id = paid_topup(api, pay, token_b, 10_000, key="after")

    assert topups_repo.get_topup(topup_id).member_id == a  # type: ignore[union-attr]
    assert balances(a) == (10_000, 0, 0) and balances(b) == (0, 0, 0)
    assert reconcile_wallet(a) is None and reconcile_wallet(b) is None


def test_a_retried_merge_or_move_moves_nothing_twice(api: Api, pay: FakePay) -> None:
    _, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    paid_topup(api, pay, token_b, 50_000)
    merge(a, b)
    before = (lines(a), lines(b))

    merge(a, b)
    again = wallet_merge.move_wallet(b, a, clock.utc_now())

    assert (lines(a), lines(b)) == before
    assert (again.principal, again.bonus, again.pending) == (0, 0, 0)
    assert balances(a) == (50_000, 5_000, 0)


def test_the_move_is_one_transaction_of_both_wallets_their_lines_and_the_pending_top_ups(
    api: Api, pay: FakePay, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    paid_topup(api, pay, token_b, 50_000)
    topup(api, token_b, 10_000, key="t-2")
    with pytest.raises(ValueError, match="not merged"):
        wallet_merge.move_wallet(b, a, clock.utc_now())  # a live member's wallet stays
    monkeypatch.setattr(wallet_merge, "merged", lambda *_: None)
    merge(a, b)  # the points step only
    monkeypatch.undo()

    with count_dynamodb() as tally:
        moved = wallet_merge.move_wallet(b, a, clock.utc_now())

    assert (moved.principal, moved.bonus, moved.pending, moved.topups) == (50_000, 5_000, 10_000, 1)
    assert tally.requests["TransactWriteItems"] == 1
    assert tally.items_written == 2 + 4 + 1  # both wallets, a line per purse on each side, the top-up
    assert reconcile_wallet(a) is None and reconcile_wallet(b) is None


def test_the_merged_money_may_exceed_the_card_limit_and_top_ups_wait_until_below(api: Api, pay: FakePay) -> None:
    token_a, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    paid_topup(api, pay, token_a, 400_000)  # + 15,000
    paid_topup(api, pay, token_b, 300_000)  # + 15,000
    merge(a, b)

    refused = topup(api, token_a, 1_000, key="over")
    spend(a, 240_000, "order:o-1")  # 490,000 left: 10,000 of room
    allowed = topup(api, token_a, 1_000, key="below")

    assert balances(a)[:2] == (460_000, 30_000)
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "wallet_limit_reached"
    assert allowed.status_code == 201, allowed.body
    assert reconcile_wallet(a) is None and reconcile_wallet(b) is None


def test_a_merge_onto_a_survivor_merged_on_since_reaches_the_live_member(api: Api, pay: FakePay) -> None:
    _, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    _, c = api.login("wm-c")
    paid_topup(api, pay, token_b, 10_000)
    merge(c, a)  # a is merged into c first ...

    merge(a, b)  # ... so b's money reaches c

    assert balances(c) == (10_000, 0, 0) and balances(a) == (0, 0, 0) and balances(b) == (0, 0, 0)
    assert [e.ref for e in wallet_repo.iter_entries(c)] == [f"merge:{b}:in"]
    assert all(reconcile_wallet(m) is None for m in (a, b, c))


def test_the_survivor_sees_the_merge_lines_in_its_own_wallet(api: Api, pay: FakePay) -> None:
    token_a, a = api.login("wm-a")
    token_b, b = api.login("wm-b")
    paid_topup(api, pay, token_b, 50_000)
    merge(a, b)

    view = wallet(api, token_a)

    assert [(i["kind"], i["title"]) for i in view["items"][:2]] == [
        ("merge_in", "账户合并转入（赠送金）"),
        ("merge_in", "账户合并转入"),
    ]
