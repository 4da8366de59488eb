"""Stored value (储值) through the API and the fake WeChat Pay: a top-up is a JSAPI order whose
requestPayment parameters the mini-program can use, pending until paid, credited with the bonus
of the rule in force when it was made; the card's limit; the settle job; refunds of a top-up."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib import clock
from chalicelib.jobs import topups as settle_job
from chalicelib.services.wallet import reconcile_wallet, reconcile_wallets
from chalicelib.settings import get_settings
from chalicelib.store import topups_repo, wallet_repo
from chalicelib.store.models import WalletEntryModel
from local import wechatpay_keys as wk
from tests.support.api import Api, dumps, member_headers
from tests.support.wallet import FakePay, enable_wallet, paid_topup, topup, wallet

pytest_plugins = ["tests.support.wechatpay"]  # the fake WeChat Pay's fixtures: pay, pay_server


def _refund_quote(api: Api, token: str, topup_id: str, query: str = "") -> Any:
    return api.http.get(f"/v1/wallet/topups/{topup_id}/refund-quote{query}", headers=member_headers(token))


def _refund(api: Api, token: str, topup_id: str, body: dict[str, Any], key: str = "r-1") -> Any:
    headers = member_headers(token, **{"Idempotency-Key": key})
    return api.http.post(f"/v1/wallet/topups/{topup_id}/refunds", body=dumps(body), headers=headers)


def _spend(member_id: str, amount: int, ref: str = "order:o-1") -> None:
    """A checkout's debit, as it will stage it: the split planned, then staged in its transaction."""
    from chalicelib.services.wallet import plan_payment
    from chalicelib.store.tx import UnitOfWork

    found, split = plan_payment(member_id, amount)
    tx = UnitOfWork(get_settings().region)
    wallet_repo.stage_debit(tx, found, split, ref, clock.iso(clock.utc_now()))
    tx.commit()


# --- a top-up ---------------------------------------------------------------------------------------


def test_a_top_up_is_a_jsapi_order_whose_payment_parameters_are_signed_by_the_merchant(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")

    response = topup(api, token, 50_000)

    assert response.status_code == 201, response.body
    body = response.json_body
    assert (body["status"], body["amount_fen"], body["bonus_fen"], body["rule_code"]) == (
        "pending",
        50_000,
        5_000,
        "topup_bonus",
    )
    order = pay.state.orders[body["topup_id"]]
    assert order["payer"] == {"openid": "o_alice"} and order["amount"]["total"] == 50_000
    payment = body["payment"]
    assert payment["package"] == f"prepay_id={order['_prepay_id']}" and payment["signType"] == "RSA"
    appid = get_settings().wechat_mini_appid
    signed = f"{appid}\n{payment['timeStamp']}\n{payment['nonceStr']}\n{payment['package']}\n".encode()
    merchant = serialization.load_pem_public_key(wk.merchant_public_pem(pay.keys).encode())
    assert isinstance(merchant, rsa.RSAPublicKey)
    merchant.verify(base64.b64decode(payment["paySign"]), signed, padding.PKCS1v15(), hashes.SHA256())
    view = wallet(api, token)
    assert (view["balance_fen"], [t["topup_id"] for t in view["pending_topups"]]) == (0, [body["topup_id"]])


def test_a_paid_top_up_credits_principal_and_bonus_each_in_its_own_ledger(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")

    topup_id = paid_topup(api, pay, token, 100_000)

    view = wallet(api, token)
    assert (view["principal_fen"], view["bonus_fen"], view["balance_fen"]) == (100_000, 15_000, 115_000)
    assert view["pending_topups"] == []
    lines = [(i["purse"], i["kind"], i["delta_fen"], i["balance_after_fen"], i["ref"]) for i in view["items"]]
    assert lines == [
        ("bonus", "topup", 15_000, 15_000, f"topup:{topup_id}"),
        ("principal", "topup", 100_000, 100_000, f"topup:{topup_id}"),
    ]
    assert [i["title"] for i in view["items"]] == ["充值赠送", "充值"]
    assert reconcile_wallet(member_id) is None
    assert api.http.get(f"/v1/wallet/topups/{topup_id}", headers=member_headers(token)).json_body["status"] == "paid"


def test_the_bonus_is_the_rules_in_force_when_the_top_up_was_made_not_when_it_was_paid(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    response = topup(api, token, 50_000)
    enable_wallet(topup_rules=[])  # the offer ends before the member pays

    pay.pay(response.json_body["topup_id"])

    assert (wallet(api, token)["principal_fen"], wallet(api, token)["bonus_fen"]) == (50_000, 5_000)
    later = topup(api, token, 50_000, key="t-2").json_body
    assert later["bonus_fen"] == 0 and later["rule_code"] is None


def test_a_top_up_outside_the_offers_window_gets_no_bonus(api: Api, pay: FakePay) -> None:
    today = clock.local_date(clock.utc_now(), "Asia/Shanghai")
    ended = {
        "code": "old",
        "name": "旧活动",
        "ends_on": str(today - timedelta(days=1)),
        "tiers": [{"min_fen": 100, "bonus_fen": 100}],
    }
    enable_wallet(topup_rules=[ended])
    token, _ = api.login("alice")

    assert topup(api, token, 50_000).json_body["bonus_fen"] == 0


def test_a_replayed_top_up_is_the_same_order_and_another_amount_under_the_key_is_409(api: Api, pay: FakePay) -> None:
    token, _ = api.login("alice")
    first = topup(api, token, 20_000).json_body

    again = topup(api, token, 20_000)
    other = topup(api, token, 30_000)

    assert again.status_code == 201 and again.json_body == first
    assert other.status_code == 409 and other.json_body["error"]["code"] == "idempotency_key_reused"
    assert len(pay.state.orders) == 1
    assert wallet(api, token)["pending_topups"][0]["amount_fen"] == 20_000


@pytest.mark.parametrize("amount", [0, -1, 99, 500_001], ids=["zero", "negative", "below-min", "above-max"])
def test_a_top_up_outside_the_programmes_bounds_is_400_naming_amount_fen(api: Api, pay: FakePay, amount: int) -> None:
    token, _ = api.login("alice")

    response = topup(api, token, amount)

    assert response.status_code == 400, response.body
    assert [f["field"] for f in response.json_body["error"]["fields"]] == ["amount_fen"]
    assert pay.state.orders == {}


def test_the_card_limit_counts_the_balance_pending_top_ups_and_the_bonus(api: Api, pay: FakePay) -> None:
    token, _ = api.login("alice")
    paid_topup(api, pay, token, 300_000, key="t-1")  # 300,000 + 15,000 bonus
    assert topup(api, token, 100_000, key="t-2").status_code == 201  # pending 115,000: 430,000

    over = topup(api, token, 60_000, key="t-3")  # + 5,000 bonus: 495,000 … fits
    beyond = topup(api, token, 10_000, key="t-4")  # 505,000: over ¥5,000

    assert over.status_code == 201
    assert beyond.status_code == 409 and beyond.json_body["error"]["code"] == "wallet_limit_reached"
    assert len(pay.state.orders) == 3


def test_wallet_off_refuses_top_ups_403(api: Api, pay: FakePay) -> None:
    enable_wallet(enabled=False)
    token, _ = api.login("alice")

    response = topup(api, token, 10_000)

    assert response.status_code == 403 and response.json_body["error"]["code"] == "wallet_disabled"


def test_another_members_top_up_is_not_found(api: Api, pay: FakePay) -> None:
    token_a, _ = api.login("alice")
    token_b, _ = api.login("bob")
    topup_id = topup(api, token_a, 10_000).json_body["topup_id"]

    read = api.http.get(f"/v1/wallet/topups/{topup_id}", headers=member_headers(token_b))
    quote = _refund_quote(api, token_b, topup_id)

    assert read.status_code == 404 and quote.status_code == 404


def test_wechat_pay_down_at_prepay_is_503_and_the_retry_places_the_same_order(api: Api, pay: FakePay) -> None:
    token, _ = api.login("alice")
    pay.state._failures["/v3/pay/transactions/jsapi"] = [500, 1]

    failed = topup(api, token, 10_000)
    retried = topup(api, token, 10_000)

    assert failed.status_code == 503, failed.body
    assert retried.status_code == 201 and retried.json_body["payment"] is not None
    assert len(pay.state.orders) == 1


# --- the settle job ---------------------------------------------------------------------------------


def test_a_lost_notification_is_settled_once_by_the_query_job(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    topup_id = topup(api, token, 50_000).json_body["topup_id"]
    pay.pay(topup_id, notify=False)
    now = clock.utc_now()

    too_soon = settle_job.run(now)
    later = settle_job.run(now + timedelta(minutes=6))
    again = settle_job.run(now + timedelta(minutes=8))

    assert too_soon == {} and later == {"topup_credited": 1} and again == {}
    assert (wallet(api, token)["principal_fen"], wallet(api, token)["bonus_fen"]) == (50_000, 5_000)
    assert topups_repo.get_topup(topup_id).settled_by == "query"  # type: ignore[union-attr]
    assert reconcile_wallet(member_id) is None


def test_an_unpaid_top_up_waits_then_closes_when_it_expires_and_frees_the_limit(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    topup_id = topup(api, token, 400_000).json_body["topup_id"]
    now = clock.utc_now()

    waiting = settle_job.run(now + timedelta(minutes=6))
    closed = settle_job.run(now + timedelta(minutes=16))

    assert waiting == {"topup_waiting": 1} and closed == {"topup_closed": 1}
    assert pay.state.orders[topup_id]["trade_state"] == "CLOSED"
    assert wallet(api, token)["pending_topups"] == []
    assert topup(api, token, 400_000, key="t-2").status_code == 201  # the limit is free again
    assert reconcile_wallet(member_id) is None


def test_a_payment_the_notification_reports_after_the_job_closed_it_still_credits(api: Api, pay: FakePay) -> None:
    """Money that arrived counts, even for a top-up we had closed as unpaid."""
    token, member_id = api.login("alice")
    topup_id = topup(api, token, 10_000).json_body["topup_id"]
    order = pay.state.orders[topup_id]
    pay.state.pay(topup_id, notify=False)  # paid at WeChat Pay ...
    order["trade_state"] = "CLOSED"  # ... but answered as closed to the job (a stale replica, say)
    settle_job.run(clock.utc_now() + timedelta(minutes=16))
    order["trade_state"] = "SUCCESS"

    pay.state.notify_payment(topup_id)
    pay.state.deliveries.wait()

    assert wallet(api, token)["principal_fen"] == 10_000
    assert reconcile_wallet(member_id) is None


# --- refunds ----------------------------------------------------------------------------------------


def test_a_refund_quote_then_refund_pays_back_unspent_principal_and_takes_the_bonus_in_proportion(
    api: Api, pay: FakePay
) -> None:
    token, member_id = api.login("alice")
    topup_id = paid_topup(api, pay, token, 50_000)  # 50,000 + 5,000
    _spend(member_id, 20_000)  # principal first: 30,000 + 5,000 left

    quote = _refund_quote(api, token, topup_id).json_body
    response = _refund(api, token, topup_id, {"cash_fen": quote["cash_fen"]})
    pay.state.deliveries.wait()

    assert (quote["principal_fen"], quote["bonus_due_fen"], quote["deducted_fen"], quote["cash_fen"]) == (
        30_000,
        3_000,
        0,
        30_000,
    )
    assert response.status_code == 201, response.body
    assert pay.state.refunds[response.json_body["refund_id"]]["amount"]["refund"] == 30_000
    view = wallet(api, token)
    assert (view["principal_fen"], view["bonus_fen"]) == (0, 2_000)
    assert topups_repo.get_refund(response.json_body["refund_id"]).status == "success"  # type: ignore[union-attr]
    assert reconcile_wallet(member_id) is None


def test_bonus_already_spent_is_deducted_from_the_cash_refunded(api: Api, pay: FakePay) -> None:
    enable_wallet(spend_order="bonus_first")
    token, member_id = api.login("alice")
    topup_id = paid_topup(api, pay, token, 50_000)
    _spend(member_id, 5_000)  # the whole bonus

    quote = _refund_quote(api, token, topup_id).json_body

    assert (quote["principal_fen"], quote["bonus_taken_fen"], quote["deducted_fen"], quote["cash_fen"]) == (
        50_000,
        0,
        5_000,
        45_000,
    )
    assert _refund(api, token, topup_id, {"cash_fen": 45_000}).status_code == 201
    pay.state.deliveries.wait()
    assert wallet(api, token)["balance_fen"] == 0
    assert reconcile_wallet(member_id) is None


def test_a_refund_confirmed_with_a_stale_quote_is_409_and_changes_nothing(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    topup_id = paid_topup(api, pay, token, 50_000)
    quote = _refund_quote(api, token, topup_id).json_body
    _spend(member_id, 1_000)

    response = _refund(api, token, topup_id, {"cash_fen": quote["cash_fen"]})

    assert response.status_code == 409 and response.json_body["error"]["code"] == "refund_quote_changed"
    assert pay.state.refunds == {} and wallet(api, token)["principal_fen"] == 49_000


def test_a_refund_wechat_pay_closes_gives_everything_back_once(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    topup_id = paid_topup(api, pay, token, 50_000)
    pay.state.refund_outcome = None
    refund_id = _refund(api, token, topup_id, {"cash_fen": 50_000}).json_body["refund_id"]
    assert wallet(api, token)["balance_fen"] == 0

    pay.state.finish_refund(refund_id, "ABNORMAL")
    pay.state.deliveries.wait()
    abnormal = topups_repo.get_refund(refund_id)
    pay.state.finish_refund(refund_id, "CLOSED")
    pay.state.deliveries.wait()
    pay.state.deliveries.send(pay.state.refunds[refund_id]["_notify_url"], *_resent_closed(pay, refund_id))
    pay.state.deliveries.wait()

    assert abnormal is not None and abnormal.status == "abnormal"
    view = wallet(api, token)
    assert (view["principal_fen"], view["bonus_fen"]) == (50_000, 5_000)
    assert topups_repo.get_topup(topup_id).refunded_principal_fen == 0  # type: ignore[union-attr]
    assert reconcile_wallet(member_id) is None
    assert _refund_quote(api, token, topup_id).json_body["cash_fen"] == 50_000  # refundable again


def _resent_closed(pay: FakePay, refund_id: str) -> tuple[dict[str, Any], Any]:
    refund = pay.state.refunds[refund_id]
    resource = {k: v for k, v in refund.items() if not k.startswith("_") and k != "status"}
    note = wk.envelope(pay.keys.apiv3_key, "REFUND.CLOSED", "退款关闭", {**resource, "refund_status": "CLOSED"}, "x")
    return note, pay.state.sign


def test_a_refund_wechat_pay_did_not_take_is_resubmitted_by_the_job(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    topup_id = paid_topup(api, pay, token, 10_000)
    pay.state._failures["/v3/refund/domestic/refunds"] = [500, 1]

    response = _refund(api, token, topup_id, {"cash_fen": 10_000})
    counts = settle_job.run(clock.utc_now() + timedelta(minutes=6))
    pay.state.deliveries.wait()

    assert response.status_code == 201 and response.json_body["status"] == "requested"
    assert counts == {"refund_processing": 1}
    assert topups_repo.get_refund(response.json_body["refund_id"]).status == "success"  # type: ignore[union-attr]
    assert wallet(api, token)["balance_fen"] == 0  # no bonus below ¥500: the 10,000 went back
    assert reconcile_wallet(member_id) is None


def test_only_a_paid_top_up_can_be_refunded(api: Api, pay: FakePay) -> None:
    token, _ = api.login("alice")
    topup_id = topup(api, token, 10_000).json_body["topup_id"]

    quote = _refund_quote(api, token, topup_id)

    assert quote.status_code == 409 and quote.json_body["error"]["code"] == "topup_not_paid"


def test_the_wallet_ledger_pages_newest_first_and_a_crafted_cursor_is_400(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    paid_topup(api, pay, token, 50_000, key="t-1")
    paid_topup(api, pay, token, 100, key="t-2")

    first = wallet(api, token, "?limit=2")
    second = wallet(api, token, f"?limit=2&cursor={first['next_cursor']}")
    crafted = api.http.get("/v1/wallet?cursor=eyJzZXEiOiAtMX0", headers=member_headers(token))

    assert [i["seq"] for i in first["items"]] == [3, 2] and [i["seq"] for i in second["items"]] == [1]
    assert second["next_cursor"] is None
    assert crafted.status_code == 400 and crafted.json_body["error"]["fields"][0]["field"] == "cursor"
    assert sum(1 for _ in WalletEntryModel.query(member_id)) == 3


def test_a_replayed_refund_is_the_same_refund_and_another_body_under_its_key_is_409(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("alice")
    topup_id = paid_topup(api, pay, token, 50_000)
    first = _refund(api, token, topup_id, {"principal_fen": 10_000, "cash_fen": 10_000})
    pay.state.deliveries.wait()

    again = _refund(api, token, topup_id, {"principal_fen": 10_000, "cash_fen": 10_000})
    other = _refund(api, token, topup_id, {"principal_fen": 20_000, "cash_fen": 20_000})

    assert first.status_code == again.status_code == 201
    assert again.json_body["refund_id"] == first.json_body["refund_id"] and again.json_body["status"] == "success"
    assert other.status_code == 409 and other.json_body["error"]["code"] == "idempotency_key_reused"
    assert len(pay.state.refunds) == 1
    assert (wallet(api, token)["principal_fen"], wallet(api, token)["bonus_fen"]) == (40_000, 4_000)
    assert reconcile_wallet(member_id) is None


def test_reconcile_finds_a_purse_that_does_not_match_its_ledger(api: Api, pay: FakePay) -> None:
    from chalicelib.store.models import WalletModel

    token, member_id = api.login("alice")
    paid_topup(api, pay, token, 50_000)
    WalletModel(member_id).update(actions=[WalletModel.bonus.set(5_001)])  # a write outside the ledger

    found = reconcile_wallet(member_id)

    assert found is not None and "bonus != sum of bonus ledger" in found.problem
    assert (found.bonus, found.bonus_ledger, found.principal, found.principal_ledger) == (5_001, 5_000, 50_000, 50_000)
    assert [m.member_id for m in reconcile_wallets()] == [member_id]  # the full pass finds it too
