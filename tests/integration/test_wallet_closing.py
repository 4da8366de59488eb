"""Closing an account (注销) with money in the wallet (储值): refused with 409 while principal is left
(naming it and the refundable part), a top-up is pending or a refund is under way, on the member's
and the operator's routes, with nothing written; the member refunds first. Bonus alone is forfeited
by a `forfeit` ledger line in the closing's transaction, so reconcile still holds."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.services import identity
from chalicelib.services.wallet import reconcile_wallet
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, topups_repo, wallet_repo
from chalicelib.store.models import MemberModel, TopupModel
from chalicelib.texts import text
from tests.support.api import Api, dumps, member_headers, operator_headers
from tests.support.wallet import FakePay, paid_topup, topup

pytest_plugins = ["tests.support.wechatpay"]  # the fake WeChat Pay's fixtures: pay, pay_server


def close_mine(api: Api, token: str) -> Any:
    return api.http.post("/v1/me/deletion", headers=member_headers(token))


def close_by_operator(api: Api, member_id: str) -> Any:
    body = dumps({"reason": "ticket 42"})
    return api.http.post(f"/admin/members/{member_id}/deletion", body=body, headers=operator_headers("alice"))


def spend(member_id: str, amount: int, ref: str = "order:o-1") -> None:
    from chalicelib.services.wallet import plan_payment
    from chalicelib.store.tx import UnitOfWork

    found, split = plan_payment(member_id, amount)
    tx = UnitOfWork(get_settings().region)
    wallet_repo.stage_debit(tx, found, split, ref, clock.iso(clock.utc_now()))
    tx.commit()


def refund_all(api: Api, token: str, topup_id: str, key: str = "r-1") -> Any:
    quote = api.http.get(f"/v1/wallet/topups/{topup_id}/refund-quote", headers=member_headers(token)).json_body
    headers = member_headers(token, **{"Idempotency-Key": key})
    body = dumps({"cash_fen": quote["cash_fen"]})
    return api.http.post(f"/v1/wallet/topups/{topup_id}/refunds", body=body, headers=headers)


def refused(response: Any, code: str) -> str:
    """The 409's reason (it names the amounts); its message is the configured Chinese text."""
    assert response.status_code == 409, response.body
    error = response.json_body["error"]
    assert error["code"] == code and error["message"] == text(code) and "注销" in error["message"]
    [field] = error["fields"]
    assert field["field"] == "wallet"
    return str(field["reason"])


def still_open(member_id: str) -> None:
    member = MemberModel.get(member_id)
    assert member.status in (None, "active") and member.mini_openid, "nothing of the account was erased"


def test_closing_with_principal_left_is_409_naming_the_principal_and_the_refundable_part(
    api: Api, pay: FakePay
) -> None:
    token, member_id = api.login("cl-a")
    paid_topup(api, pay, token, 50_000)  # + 5,000
    spend(member_id, 20_000)  # 30,000 principal left

    mine = close_mine(api, token)
    operators = close_by_operator(api, member_id)

    assert refused(mine, "wallet_not_empty") == refused(operators, "wallet_not_empty")
    assert "principal_fen=30000 refundable_fen=30000" in refused(mine, "wallet_not_empty")
    still_open(member_id)
    assert wallet_repo.get_wallet(member_id).principal == 30_000


def test_principal_past_the_refund_year_is_named_as_not_refundable(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("cl-a")
    old = paid_topup(api, pay, token, 10_000, key="old")
    paid_topup(api, pay, token, 20_000, key="new")
    paid_at = datetime.fromisoformat(topups_repo.get_topup(old).paid_at)  # type: ignore[union-attr, arg-type]
    TopupModel(old).update(actions=[TopupModel.paid_at.set(clock.iso(paid_at - timedelta(days=400)))])

    reason = refused(close_mine(api, token), "wallet_not_empty")

    assert "principal_fen=30000 refundable_fen=20000" in reason


def test_the_member_refunds_first_then_closes_the_account(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("cl-a")
    topup_id = paid_topup(api, pay, token, 50_000)
    refused(close_mine(api, token), "wallet_not_empty")

    assert refund_all(api, token, topup_id).status_code == 201
    pay.state.deliveries.wait()
    closed = close_mine(api, token)

    assert closed.status_code == 200, closed.body
    assert MemberModel.get(member_id).status == "deleted"
    found = wallet_repo.get_wallet(member_id)
    assert (found.principal, found.bonus, found.pending_fen) == (0, 0, 0)
    assert reconcile_wallet(member_id) is None


def test_bonus_alone_is_forfeited_by_a_ledger_line_in_the_closing_transaction(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("cl-a")
    paid_topup(api, pay, token, 50_000)  # + 5,000
    spend(member_id, 50_000)  # principal first: the bonus is left

    closed = close_mine(api, token)

    assert closed.status_code == 200, closed.body
    last = list(wallet_repo.iter_entries(member_id))[-1]
    assert (str(last.purse), str(last.kind), last.delta, last.balance_after) == ("bonus", "forfeit", -5_000, 0)
    assert last.ref == f"close:{member_id}" and last.detail == {"reason": "account_closed"}
    assert wallet_repo.get_wallet(member_id).bonus == 0
    assert MemberModel.get(member_id).deletion["wallet_bonus_forfeited"] == 5_000
    assert reconcile_wallet(member_id) is None


def test_closing_while_a_top_up_is_pending_is_409_until_it_closes(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("cl-a")
    topup(api, token, 10_000)

    reason = refused(close_mine(api, token), "wallet_topup_pending")

    assert "pending_topups=1 amount_fen=10000" in reason
    still_open(member_id)


def test_closing_while_a_refund_is_under_way_is_409_until_it_finishes(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("cl-a")
    topup_id = paid_topup(api, pay, token, 50_000)
    pay.state.refund_outcome = None  # WeChat Pay keeps it PROCESSING
    refund_id = refund_all(api, token, topup_id).json_body["refund_id"]

    reason = refused(close_by_operator(api, member_id), "wallet_refund_in_flight")
    pay.state.finish_refund(refund_id, "SUCCESS")
    pay.state.deliveries.wait()
    closed = close_by_operator(api, member_id)

    assert "refunds_in_flight=1 cash_fen=50000" in reason
    assert closed.status_code == 200, closed.body
    assert reconcile_wallet(member_id) is None


def test_a_refund_under_way_of_an_account_merged_in_also_holds_the_closing(api: Api, pay: FakePay) -> None:
    token_a, a = api.login("cl-a")
    token_b, b = api.login("cl-b")
    topup_id = paid_topup(api, pay, token_b, 10_000)
    pay.state.refund_outcome = None
    refund_all(api, token_b, topup_id)
    identity.merge_members(a, b, trigger="admin", now=clock.utc_now(), operator="alice", approved_by="bob")

    refused(close_mine(api, token_a), "wallet_refund_in_flight")

    still_open(a)


def test_a_member_who_never_topped_up_closes_with_an_empty_wallet_guarding_the_closing(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("cl-a")

    closed = close_mine(api, token)

    assert closed.status_code == 200, closed.body
    found = wallet_repo.get_wallet(member_id)
    assert (found.principal, found.bonus, found.version) == (0, 0, 1)
    assert reconcile_wallet(member_id) is None
    assert members_repo.get_live_member(member_id, closed_ok=True).closed
