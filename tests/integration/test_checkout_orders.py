"""After checkout: the order earns on its cash part only; a refund gives back the wallet, the
points and the coupon per line, in proportion, exactly once; the WeChat Pay part holds the
checkout until paid (notification or the settle job) or cancels it when the hold ends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib import clock
from chalicelib.jobs import topups as settle_job
from chalicelib.services.reconcile import reconcile_member
from chalicelib.services.wallet import reconcile_wallet
from chalicelib.store import coupons_repo, members_repo, wallet_repo
from tests.integration.test_checkout import CONFIRM, basket, code, field, fund, post, republish
from tests.integration.test_coupon_redemption import held, template
from tests.support.api import Api, paid_at
from tests.support.wallet import FakePay, enable_wallet

pytest_plugins = ["tests.support.wechatpay"]


def report(api: Api, member_id: str, amount_fen: int, order_id: str = "o-1", **extra: Any) -> Any:
    return api.order(order_id, {"member_id": member_id}, amount_fen, **extra)


def setup_member(api: Api, points_fen: int = 500_000) -> str:
    enable_wallet()
    _, member_id = api.login("alice")
    assert api.order("earned", {"member_id": member_id}, points_fen).status_code == 200
    return member_id


def test_the_order_earns_on_its_cash_part_only_and_must_match_its_checkout(api: Api) -> None:
    member_id = setup_member(api)
    fund(member_id, 5_000)
    confirmed = post(api, CONFIRM, basket(member_id, points=1_000, wallet_fen=5_000)).json_body
    cash = confirmed["totals"]["cash_fen"]
    balance = members_repo.get_member(member_id).balance

    wrong_amount = report(api, member_id, 30_000)
    other = api.login("bob")[1]
    wrong_member = report(api, other, cash)
    reported = report(api, member_id, cash)

    assert (wrong_amount.status_code, field(wrong_amount)) == (400, "amount_fen")
    assert (wrong_member.status_code, field(wrong_member)) == (400, "member")
    assert reported.status_code == 200, reported.body
    assert reported.json_body["points_earned"] == cash // 100  # 1 point a yuan, on the cash only
    assert members_repo.get_member(member_id).balance == balance + cash // 100


def test_a_held_checkout_cannot_be_reported_until_paid(api: Api, pay: FakePay) -> None:
    member_id = setup_member(api)
    confirmed = post(api, CONFIRM, basket(member_id, points=1_000, pay_with="wechat_pay"))
    assert confirmed.status_code == 201, confirmed.body
    assert confirmed.json_body["status"] == "held" and confirmed.json_body["payment"]["signType"] == "RSA"

    early = report(api, member_id, confirmed.json_body["totals"]["cash_fen"])
    assert early.status_code == 409 and code(early) == "checkout_not_paid"


def test_a_refund_by_lines_gives_back_each_part_in_proportion_and_the_coupon_with_its_last_line(api: Api) -> None:
    member_id = setup_member(api)
    fund(member_id, 6_000, 2_000)
    template_id = template(api, "t1")
    _, coupon = held(api, "alice", template_id)
    confirmed = post(api, CONFIRM, basket(member_id, coupon_codes=[coupon["code"]], points=2_000, wallet_fen=8_000))
    assert confirmed.status_code == 201, confirmed.body
    lines = {line["line_id"]: line for line in confirmed.json_body["lines"]}
    cash = confirmed.json_body["totals"]["cash_fen"]
    assert report(api, member_id, cash).status_code == 200
    points_before = members_repo.get_member(member_id).balance

    half = api.refund("o-1", {"refund_id": "r1", "lines": [{"line_id": "l1", "amount_fen": 10_000}]})
    again = api.refund("o-1", {"refund_id": "r1", "lines": [{"line_id": "l1", "amount_fen": 10_000}]})
    rest = api.refund("o-1", {"refund_id": "r2", "amount_fen": 20_000})
    over = api.refund("o-1", {"refund_id": "r3", "amount_fen": 1})

    assert half.status_code == 200, half.body
    assert again.json_body == half.json_body
    l1 = lines["l1"]
    assert half.json_body["wallet_fen"] == l1["wallet_fen"] // 2
    assert half.json_body["points_returned"] == l1["points"] // 2
    assert half.json_body["cash_fen"] == l1["cash_fen"] // 2
    assert half.json_body["coupons_returned"] == []
    assert rest.status_code == 200, rest.body
    assert rest.json_body["coupons_returned"] == [coupon["coupon_id"]]
    total_wallet = half.json_body["wallet_fen"] + rest.json_body["wallet_fen"]
    total_points = half.json_body["points_returned"] + rest.json_body["points_returned"]
    total_cash = half.json_body["cash_fen"] + rest.json_body["cash_fen"]
    assert (total_wallet, total_points, total_cash) == (8_000, 2_000, cash)
    w = wallet_repo.get_wallet(member_id)
    assert (w.principal, w.bonus) == (6_000, 2_000)  # back to the purses they came from
    earned_back = half.json_body["points_reversed"] + rest.json_body["points_reversed"]
    assert earned_back == cash // 100
    assert members_repo.get_member(member_id).balance == points_before + 2_000 - earned_back
    assert coupons_repo.find_by_code(coupon["code"]).status == "returned"  # type: ignore[union-attr]
    assert over.status_code == 400
    assert reconcile_wallet(member_id) is None and reconcile_member(member_id) is None


def test_the_wechat_pay_part_settles_the_checkout_once_by_notification(api: Api, pay: FakePay) -> None:
    member_id = setup_member(api)
    confirmed = post(api, CONFIRM, basket(member_id, points=1_000, pay_with="wechat_pay")).json_body
    trade_no = next(iter(pay.state.orders))

    pay.pay(trade_no)
    pay.state.notify_payment(trade_no)  # a second copy
    pay.state.deliveries.wait()

    status = api.http.get("/v1/checkout/o-1", headers=_get_headers())
    assert status.json_body["status"] == "paid"
    reported = report(api, member_id, confirmed["totals"]["cash_fen"])
    assert reported.status_code == 200, reported.body


def test_a_lost_notification_is_settled_by_the_job_and_an_unpaid_hold_is_cancelled(api: Api, pay: FakePay) -> None:
    member_id = setup_member(api)
    balance = members_repo.get_member(member_id).balance
    post(api, CONFIRM, basket(member_id, points=1_000, pay_with="wechat_pay"))
    post(api, CONFIRM, basket(member_id, order_id="o-2", points=500, pay_with="wechat_pay"))
    first, second = list(pay.state.orders)
    pay.pay(first, notify=False)

    early = settle_job.run(clock.utc_now() + timedelta(minutes=6))
    late = settle_job.run(clock.utc_now() + timedelta(minutes=16))

    assert early.get("checkout_paid") == 1
    assert late.get("checkout_cancelled") == 1
    assert pay.state.orders[second]["trade_state"] == "CLOSED"
    assert members_repo.get_member(member_id).balance == balance - 1_000  # o-2's 500 came back
    assert reconcile_member(member_id) is None


def _get_headers() -> dict[str, str]:
    from tests.support.api import pos_headers

    return pos_headers("GET", "/v1/checkout/o-1", b"")


__all__ = ["paid_at"]


def test_a_wechat_paid_checkout_refunds_its_cash_part_through_wechat_pay_once(api: Api, pay: FakePay) -> None:
    member_id = setup_member(api)
    confirmed = post(api, CONFIRM, basket(member_id, points=1_000, pay_with="wechat_pay")).json_body
    trade_no = next(iter(pay.state.orders))
    pay.pay(trade_no)
    cash = confirmed["totals"]["cash_fen"]
    assert report(api, member_id, cash).status_code == 200

    first = api.refund("o-1", {"refund_id": "r1", "amount_fen": 10_000})
    again = api.refund("o-1", {"refund_id": "r1", "amount_fen": 10_000})
    pay.state.deliveries.wait()

    assert first.status_code == 200, first.body
    assert again.json_body == first.json_body
    refunds = [r for r in pay.state.refunds.values() if r["out_trade_no"] == trade_no]
    assert len(refunds) == 1 and refunds[0]["amount"]["refund"] == first.json_body["wechat_pay_fen"] > 0
    assert first.json_body["cash_fen"] == 0  # nothing for the POS to pay back: WeChat Pay refunds it


def test_a_held_checkout_whose_wechat_pay_order_failed_is_ordered_by_the_retry(api: Api, pay: FakePay) -> None:
    member_id = setup_member(api)
    pay.state._failures["/v3/pay/transactions/jsapi"] = [500, 1]

    failed = post(api, CONFIRM, basket(member_id, points=1_000, pay_with="wechat_pay"))
    retried = post(api, CONFIRM, basket(member_id, points=1_000, pay_with="wechat_pay"))

    assert failed.status_code == 503, failed.body
    assert retried.status_code == 201 and retried.json_body["payment"] is not None
    assert members_repo.get_member(member_id).balance == 4_000  # the points were taken once


def test_a_payment_that_lands_after_the_cancel_is_refunded_in_full_once(api: Api, pay: FakePay) -> None:
    member_id = setup_member(api)
    post(api, CONFIRM, basket(member_id, points=1_000, pay_with="wechat_pay"))
    trade_no = next(iter(pay.state.orders))
    cancelled = post(api, "/v1/checkout/o-1/cancel", {})
    assert cancelled.status_code == 200, cancelled.body
    pay.state.orders[trade_no]["trade_state"] = "NOTPAY"  # the member's payment was already under way

    pay.pay(trade_no)
    pay.state.notify_payment(trade_no)
    pay.state.deliveries.wait()

    refunds = [r for r in pay.state.refunds.values() if r["out_trade_no"] == trade_no]
    assert len(refunds) == 1 and refunds[0]["amount"]["refund"] == refunds[0]["amount"]["total"]


def test_a_reported_checkout_is_refunded_not_cancelled(api: Api) -> None:
    member_id = setup_member(api)
    confirmed = post(api, CONFIRM, basket(member_id, points=1_000)).json_body
    assert report(api, member_id, confirmed["totals"]["cash_fen"]).status_code == 200

    response = post(api, "/v1/checkout/o-1/cancel", {})

    assert response.status_code == 409 and code(response) == "checkout_paid"


def test_a_refund_inside_the_return_window_cancels_the_held_points_first_and_returns_the_deducted_ones(
    api: Api,
) -> None:
    member_id = setup_member(api)
    republish(lambda document: document["points"].update(pending_days=7))
    confirmed = post(api, CONFIRM, basket(member_id, points=2_000)).json_body
    cash = confirmed["totals"]["cash_fen"]
    reported = report(api, member_id, cash)
    assert reported.status_code == 200 and reported.json_body["points_pending"] == cash // 100
    before = members_repo.get_member(member_id)

    refunded = api.refund("o-1", {})  # everything

    assert refunded.status_code == 200, refunded.body
    after = members_repo.get_member(member_id)
    assert refunded.json_body["points_returned"] == 2_000
    assert refunded.json_body["points_reversed"] == cash // 100  # the held points, cancelled
    assert after.balance == before.balance + 2_000 and after.debt == 0 and after.pending == 0
    assert reconcile_member(member_id) is None


# --- what the review found -------------------------------------------------------------------


def test_an_order_refunded_before_it_is_reported_cannot_earn_on_the_refunded_cash(api: Api) -> None:
    member_id = setup_member(api)
    confirmed = post(api, CONFIRM, basket(member_id, points=1_000)).json_body
    assert api.refund("o-1", {"refund_id": "r1", "lines": [{"line_id": "l1", "amount_fen": 20_000}]}).status_code == 200

    late = report(api, member_id, confirmed["totals"]["cash_fen"])

    assert late.status_code == 409 and code(late) == "checkout_refunded"


def test_an_account_with_a_held_checkout_cannot_close(api: Api, pay: FakePay) -> None:
    from tests.support.api import member_headers

    member_id = setup_member(api)
    fund(member_id, 5_000)
    token = api.login("alice")[0]
    assert post(api, CONFIRM, basket(member_id, wallet_fen=5_000, pay_with="wechat_pay")).status_code == 201

    closing = api.http.post("/v1/me/deletion", headers=member_headers(token))

    assert closing.status_code == 409 and code(closing) == "checkout_open"
    assert members_repo.get_member(member_id).balance == 5_000  # nothing erased


def test_a_cancel_while_wechat_pay_is_down_is_503_and_cancels_nothing(api: Api, pay: FakePay) -> None:
    member_id = setup_member(api)
    post(api, CONFIRM, basket(member_id, points=1_000, pay_with="wechat_pay"))
    trade_no = next(iter(pay.state.orders))
    pay.state._failures[f"/v3/pay/transactions/out-trade-no/{trade_no}"] = [500, 5]

    response = post(api, "/v1/checkout/o-1/cancel", {})

    assert response.status_code == 503, response.body
    assert members_repo.get_member(member_id).balance == 4_000  # still held


def test_the_coupon_kept_by_the_return_policy_is_not_reported_returned(api: Api, monkeypatch: Any) -> None:
    from chalicelib.settings import get_settings

    monkeypatch.setenv("COUPON_RETURN_POLICY", "never")
    get_settings.cache_clear()
    member_id = setup_member(api)
    coupon = held(api, "alice", template(api, "t1"))[1]
    assert post(api, CONFIRM, basket(member_id, coupon_codes=[coupon["code"]])).status_code == 201

    refunded = api.refund("o-1", {})

    assert refunded.status_code == 200 and refunded.json_body["coupons_returned"] == []
    assert coupons_repo.find_by_code(coupon["code"]).status == "used"  # type: ignore[union-attr]


def test_a_wechat_refund_that_fails_at_once_is_made_by_its_task(api: Api, pay: FakePay) -> None:
    from tests.support.worker import run_worker

    member_id = setup_member(api)
    post(api, CONFIRM, basket(member_id, points=1_000, pay_with="wechat_pay"))
    trade_no = next(iter(pay.state.orders))
    pay.pay(trade_no)
    pay.state._failures["/v3/refund/domestic/refunds"] = [500, 1]

    refunded = api.refund("o-1", {"refund_id": "r1", "amount_fen": 10_000})
    before = [r for r in pay.state.refunds.values() if r["out_trade_no"] == trade_no]
    handled = run_worker()
    after = [r for r in pay.state.refunds.values() if r["out_trade_no"] == trade_no]

    assert refunded.status_code == 200 and before == []
    assert "task.pay_refund" in handled
    assert len(after) == 1 and after[0]["amount"]["refund"] == refunded.json_body["wechat_pay_fen"]
