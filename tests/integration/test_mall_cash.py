"""Points + cash gifts (积分+现金) through the API and the fake WeChat Pay: the redemption takes its
points and unit at once and awaits its cash part; the notification (or the settle job's query)
makes it a pending gift once; unpaid by its deadline, or cancelled by the member, its order is
closed first and everything comes back; a paid gift cancelled before it ships gets its points
and its cash back (one refund at WeChat Pay, whatever the retries); a payment landing after the
cancel is refunded in full. The ledger reconciles after every test that moves points."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.domain.mall_redemptions import refund_no, trade_no
from chalicelib.jobs import topups as settle_job
from chalicelib.store import mall_repo
from tests.integration.test_mall import ADDRESS, balance, clean, error, member, redeem, remaining, reward
from tests.support.api import Api, dumps, member_headers, operator_headers
from tests.support.wallet import FakePay

pytest_plugins = ["tests.support.wechatpay"]

CASH = 990  # per unit: 100积分+¥9.9


def gift(api: Api, key: str = "cash", **changes: Any) -> str:
    item = {"kind": "physical", "stock": 10, "max_quantity": 3}
    return reward(api, key, cash_fen=CASH, item=changes.pop("item", item), **changes)


def made(api: Api, token: str, reward_id: str, key: str = "k1", quantity: int = 1) -> dict[str, Any]:
    response = redeem(api, token, reward_id, key, quantity=quantity, address=ADDRESS)
    assert response.status_code == 201, response.body
    found: dict[str, Any] = response.json_body
    return found


def mine(api: Api, token: str, redemption_id: str) -> dict[str, Any]:
    response = api.http.get(f"/v1/me/mall/redemptions/{redemption_id}", headers=member_headers(token))
    assert response.status_code == 200, response.body
    found: dict[str, Any] = response.json_body
    return found


def cancel_mine(api: Api, token: str, redemption_id: str) -> Any:
    path = f"/v1/me/mall/redemptions/{redemption_id}/cancel"
    return api.http.post(path, body=dumps({"reason": "不要了"}), headers=member_headers(token))


def refunds_of(pay: FakePay, trade: str) -> list[dict[str, Any]]:
    return [refund for refund in pay.state.refunds.values() if refund["out_trade_no"] == trade]


def test_a_gift_awaits_its_cash_part_then_one_notification_makes_it_pending(api: Api, pay: FakePay) -> None:
    reward_id = gift(api)
    token, member_id = member(api, "payer")

    first = made(api, token, reward_id, quantity=2)
    trade = trade_no(first["redemption_id"])
    order = pay.state.orders[trade]

    assert (first["status"], first["cash_fen"], first["points"]) == ("awaiting_payment", 2 * CASH, 200)
    assert first["payment"]["signType"] == "RSA" and first["payment"]["package"].startswith("prepay_id=wx")
    assert order["amount"]["total"] == 2 * CASH and order["_request"]["description"] == "积分商城 保温杯"
    deadline = datetime.fromisoformat(first["expires_at"])
    assert order["_time_expire"].endswith("+08:00") and datetime.fromisoformat(
        order["_time_expire"]
    ) == deadline.replace(microsecond=0)
    assert deadline - datetime.fromisoformat(first["created_at"]) == timedelta(minutes=15)
    assert (balance(member_id), remaining(reward_id)) == (800, 8)  # taken at once, held while unpaid
    assert mine(api, token, first["redemption_id"])["payment"] == first["payment"]
    listed = api.http.get("/admin/mall/fulfilments?status=pending", headers=operator_headers()).json_body["items"]
    assert listed == []  # not the warehouse's until paid

    pay.pay(trade)
    pay.state.notify_payment(trade)  # a second copy
    pay.state.deliveries.wait()
    again = redeem(api, token, reward_id, "k1", quantity=2, address=ADDRESS)

    paid = mine(api, token, first["redemption_id"])
    assert (paid["status"], paid["payment"], paid["cash_fen"]) == ("pending", None, 2 * CASH)
    assert again.status_code == 201 and again.json_body == paid
    assert list(pay.state.orders) == [trade]  # one order, whatever the replays
    listed = api.http.get("/admin/mall/fulfilments?status=pending", headers=operator_headers()).json_body["items"]
    assert [item["redemption_id"] for item in listed] == [first["redemption_id"]]
    assert balance(member_id) == 800
    clean()


def test_a_cash_part_is_refused_before_any_point_is_taken_without_wechat_pay(api: Api) -> None:
    reward_id = gift(api)
    token, member_id = member(api, "nopay")

    refused = redeem(api, token, reward_id, address=ADDRESS)

    assert error(refused) == (409, "mall_pay_unavailable", ["cash_fen"])
    assert (balance(member_id), remaining(reward_id)) == (1000, 10)


def test_a_failed_order_is_503_and_the_retry_places_it_taking_the_points_once(api: Api, pay: FakePay) -> None:
    reward_id = gift(api)
    token, member_id = member(api, "retry")
    pay.state._failures["/v3/pay/transactions/jsapi"] = [500, 1]

    failed = redeem(api, token, reward_id, address=ADDRESS)
    retried = redeem(api, token, reward_id, address=ADDRESS)

    assert failed.status_code == 503, failed.body
    assert retried.status_code == 201 and retried.json_body["payment"] is not None
    assert (balance(member_id), remaining(reward_id)) == (900, 9)
    clean()


def test_the_settle_job_settles_a_lost_notification_and_cancels_an_unpaid_gift(api: Api, pay: FakePay) -> None:
    reward_id = gift(api, per_member_limit=2)
    token, member_id = member(api, "job")
    paid = made(api, token, reward_id, "k1")["redemption_id"]
    unpaid = made(api, token, reward_id, "k2")["redemption_id"]
    pay.pay(trade_no(paid), notify=False)

    early = settle_job.run(clock.utc_now() + timedelta(minutes=6))
    late = settle_job.run(clock.utc_now() + timedelta(minutes=16))
    after = settle_job.run(clock.utc_now() + timedelta(minutes=30))

    assert early.get("mall_paid") == 1 and early.get("mall_waiting") == 1
    assert late.get("mall_cancelled") == 1 and not any(key.startswith("mall_") for key in after)
    assert pay.state.orders[trade_no(unpaid)]["trade_state"] == "CLOSED"
    assert mine(api, token, paid)["status"] == "pending"
    cancelled = mine(api, token, unpaid)
    assert cancelled["status"] == "cancelled" and cancelled["cancellation"]["cancelled_by"] == "payment_expired"
    assert (balance(member_id), remaining(reward_id)) == (900, 9)  # the unpaid one's points and unit came back
    assert mall_repo.get_count(reward_id, member_id).total == 1  # and its count: the member may redeem again
    assert refunds_of(pay, trade_no(unpaid)) == []
    clean()


def test_the_member_cancels_an_unpaid_gift_its_order_closed_first(api: Api, pay: FakePay) -> None:
    reward_id = gift(api)
    token, member_id = member(api, "changed-mind")
    first = made(api, token, reward_id)

    cancelled = cancel_mine(api, token, first["redemption_id"])

    assert cancelled.status_code == 200, cancelled.body
    assert cancelled.json_body["status"] == "cancelled" and cancelled.json_body["payment"] is None
    assert pay.state.orders[trade_no(first["redemption_id"])]["trade_state"] == "CLOSED"
    assert (balance(member_id), remaining(reward_id)) == (1000, 10)
    assert pay.state.refunds == {}
    clean()


def test_a_cancel_of_an_unpaid_gift_paid_meanwhile_is_409_and_then_refunds_the_paid_gift(
    api: Api, pay: FakePay
) -> None:
    reward_id = gift(api)
    token, member_id = member(api, "racer")
    rid = made(api, token, reward_id)["redemption_id"]
    pay.pay(trade_no(rid), notify=False)  # paid; the notification not in yet

    refused = cancel_mine(api, token, rid)
    status = mine(api, token, rid)["status"]
    cancelled = cancel_mine(api, token, rid)

    assert error(refused) == (409, "mall_paid_meanwhile", ["status"])
    assert status == "pending"  # settled by the cancel's own query
    assert cancelled.status_code == 200 and cancelled.json_body["status"] == "cancelled"
    refunds = refunds_of(pay, trade_no(rid))
    assert len(refunds) == 1 and refunds[0]["amount"]["refund"] == refunds[0]["amount"]["total"] == CASH
    assert balance(member_id) == 1000
    clean()


def test_a_paid_gift_cancelled_before_it_ships_refunds_points_and_cash_once(api: Api, pay: FakePay) -> None:
    reward_id = gift(api)
    token, member_id = member(api, "refunded")
    by_member = made(api, token, reward_id, "k1")["redemption_id"]
    by_operator = made(api, token, reward_id, "k2")["redemption_id"]
    for rid in (by_member, by_operator):
        pay.pay(trade_no(rid))
    pay.state._failures["/v3/refund/domestic/refunds"] = [500, 1]

    failed = cancel_mine(api, token, by_member)
    retried = cancel_mine(api, token, by_member)
    again = cancel_mine(api, token, by_member)
    operator = api.http.post(f"/admin/mall/fulfilments/{by_operator}/cancel", body=dumps({"reason": "缺货"}),
                             headers=operator_headers())  # fmt: skip

    assert failed.status_code == 503, failed.body  # the cancel committed; its refund did not
    assert retried.status_code == 200 and again.json_body == retried.json_body
    assert operator.status_code == 200, operator.body
    for rid in (by_member, by_operator):
        refunds = refunds_of(pay, trade_no(rid))
        assert [refund["out_refund_no"] for refund in refunds] == [refund_no(rid)]
        assert refunds[0]["amount"]["refund"] == CASH
    assert (balance(member_id), remaining(reward_id)) == (1000, 10)
    refund = {k: v for k, v in pay.state.refunds[refund_no(by_member)].items() if not k.startswith("_")}
    resource = {**refund, "mchid": pay.keys.mchid, "refund_status": "SUCCESS"}
    body, _ = pay.notification("REFUND.SUCCESS", resource, summary="退款成功")
    acknowledged = pay.post(body)
    assert acknowledged.status_code == 204, acknowledged.body  # ours: acknowledged, never an unknown refund
    clean()


def test_a_payment_landing_after_the_cancel_is_refunded_in_full_once(api: Api, pay: FakePay) -> None:
    reward_id = gift(api)
    token, member_id = member(api, "late-payer")
    rid = made(api, token, reward_id)["redemption_id"]
    trade = trade_no(rid)
    assert cancel_mine(api, token, rid).status_code == 200
    pay.state.orders[trade]["trade_state"] = "NOTPAY"  # the member's payment was already under way

    pay.pay(trade)
    pay.state.notify_payment(trade)
    pay.state.deliveries.wait()

    refunds = refunds_of(pay, trade)
    assert len(refunds) == 1 and refunds[0]["amount"]["refund"] == refunds[0]["amount"]["total"] == CASH
    assert mine(api, token, rid)["status"] == "cancelled"
    assert balance(member_id) == 1000
    clean()


def test_an_unpaid_gift_is_not_shipped_and_its_cash_part_is_in_the_export(api: Api, pay: FakePay) -> None:
    from chalicelib.services import mall

    reward_id = gift(api)
    token, member_id = member(api, "exported")
    rid = made(api, token, reward_id)["redemption_id"]
    ship = dumps({"carrier": "顺丰速运", "tracking_no": "SF0000000001"})

    shipped = api.http.post(f"/admin/mall/fulfilments/{rid}/ship", body=ship, headers=operator_headers())
    exported = json.loads(json.dumps(mall.export_rows(member_id), ensure_ascii=False))

    assert error(shipped) == (409, "mall_awaiting_payment", ["status"])
    assert exported[0]["cash_fen"] == CASH and exported[0]["pay"]["trade_no"] == trade_no(rid)
    assert "prepay_id" not in exported[0]["pay"] and exported[0]["status"] == "awaiting_payment"
