"""`POST /wechat/pay/notify`: only a notification WeChat Pay signed over the exact body, within
5 minutes, under a serial we know, whose resource decrypts and matches the top-up, credits it,
and only once per transaction_id however many copies arrive. Everything else is a 4xx with
`{"code": "FAIL"}` and changes nothing."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from chalicelib.services.wallet import reconcile_wallet
from chalicelib.store.models import PayNotificationModel, WalletEntryModel
from local import wechatpay_keys as wk
from local.wechatpay_delivery import Deliveries, http_deliver
from tests.support.api import Api
from tests.support.wallet import FakePay, apply_env, topup, wallet

pytest_plugins = ["tests.support.wechatpay"]  # the fake WeChat Pay's fixtures: pay, pay_server


def _order(api: Api, pay: FakePay, amount: int = 50_000) -> tuple[str, str, str]:
    token, member_id = api.login("alice")
    topup_id = topup(api, token, amount).json_body["topup_id"]
    pay.state.pay(topup_id, notify=False)
    return token, member_id, topup_id


def _paid(pay: FakePay, topup_id: str, **changes: Any) -> tuple[bytes, dict[str, Any]]:
    resource = {k: v for k, v in pay.state.orders[topup_id].items() if not k.startswith("_")} | changes
    return pay.notification("TRANSACTION.SUCCESS", resource)


def _credited(member_id: str) -> int:
    return sum(int(e.delta) for e in WalletEntryModel.query(member_id) if e.purse == "principal")


def _fail_shape(response: Any, status: int) -> None:
    assert response.status_code == status, response.body
    assert response.json_body["code"] == "FAIL" and response.json_body["message"]


def test_a_signed_notification_credits_and_is_answered_204_with_no_body(api: Api, pay: FakePay) -> None:
    token, member_id, topup_id = _order(api, pay)
    body, note = _paid(pay, topup_id)

    response = pay.post(body)

    assert response.status_code == 204 and response.body == b""
    assert _credited(member_id) == 50_000 and wallet(api, token)["bonus_fen"] == 5_000
    stored = PayNotificationModel.get(note["id"])
    assert json.loads(stored.envelope) == note and "o_alice" not in stored.envelope  # still encrypted
    assert reconcile_wallet(member_id) is None


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda p, b: p.headers(b, **{"Wechatpay-Signature": p.headers(b + b" ")["Wechatpay-Signature"]}), id="bad-signature"),
        pytest.param(lambda p, b: p.headers(b, **{"Wechatpay-Serial": "PUB_KEY_ID_0000000000000000000000000000000A"}), id="wrong-serial"),
        pytest.param(lambda p, b: p.headers(b, **{"Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + p.headers(b)["Wechatpay-Signature"]}), id="probe"),
        pytest.param(lambda p, b: {**p.headers(b), "Wechatpay-Timestamp": str(int(p.headers(b)["Wechatpay-Timestamp"]) - 301)}, id="stale"),
        pytest.param(lambda p, b: {**p.headers(b), "Wechatpay-Timestamp": str(int(p.headers(b)["Wechatpay-Timestamp"]) + 301)}, id="future"),
        pytest.param(lambda p, b: {k: v for k, v in p.headers(b).items() if k != "Wechatpay-Signature"}, id="unsigned"),
        pytest.param(lambda p, b: p.headers(b, **{"Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA1024"}), id="other-type"),
    ],
)  # fmt: skip
def test_a_notification_that_fails_a_signature_check_is_401_and_nothing_is_credited_or_stored(
    api: Api, pay: FakePay, forge: Any
) -> None:
    _, member_id, topup_id = _order(api, pay)
    body, note = _paid(pay, topup_id)

    response = pay.post(body, forge(pay, body))

    _fail_shape(response, 401)
    assert _credited(member_id) == 0
    assert PayNotificationModel.count() == 0


def test_a_stale_timestamp_is_refused_only_beyond_five_minutes(api: Api, pay: FakePay) -> None:
    _, member_id, topup_id = _order(api, pay)
    body, _ = _paid(pay, topup_id)
    stamp = int(pay.headers(body)["Wechatpay-Timestamp"]) - 240  # 4 minutes (the exact edge: unit tests)
    signed = wk.signed_headers(pay.keys, pay.state.mode, body, stamp)

    response = pay.post(body, {"Content-Type": "application/json", **signed})

    assert response.status_code == 204 and _credited(member_id) == 50_000


def test_a_body_changed_after_signing_is_401_even_when_it_means_the_same(api: Api, pay: FakePay) -> None:
    _, member_id, topup_id = _order(api, pay)
    body, _ = _paid(pay, topup_id)
    headers = pay.headers(body)

    response = pay.post(json.dumps(json.loads(body), indent=1).encode(), headers)  # re-serialised

    _fail_shape(response, 401)
    assert _credited(member_id) == 0


def test_a_tampered_ciphertext_is_400_and_nothing_is_credited(api: Api, pay: FakePay) -> None:
    _, member_id, topup_id = _order(api, pay)
    _, note = _paid(pay, topup_id)
    sealed = bytearray(note["resource"]["ciphertext"].encode())
    sealed[10] = ord("A") if sealed[10] != ord("A") else ord("B")
    note["resource"]["ciphertext"] = sealed.decode()
    body = json.dumps(note).encode()  # signed by WeChat Pay's key: only the AEAD tag can tell

    response = pay.post(body)

    _fail_shape(response, 400)
    assert _credited(member_id) == 0 and PayNotificationModel.count() == 0


def test_a_resource_with_other_associated_data_does_not_decrypt(api: Api, pay: FakePay) -> None:
    _, member_id, topup_id = _order(api, pay)
    _, note = _paid(pay, topup_id)
    note["resource"]["associated_data"] = "refund"
    body = json.dumps(note).encode()

    _fail_shape(pay.post(body), 400)
    assert _credited(member_id) == 0


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"amount": {"total": 1, "currency": "CNY"}}, 400),
        ({"mchid": "1900000999"}, 400),
        ({"appid": "wx_other"}, 400),
        ({"out_trade_no": "wt000000000000000000000000"}, 404),
    ],
    ids=["amount", "mchid", "appid", "unknown-order"],
)
def test_a_signed_notification_that_does_not_match_the_top_up_credits_nothing(
    api: Api, pay: FakePay, changes: dict[str, Any], status: int
) -> None:
    _, member_id, topup_id = _order(api, pay)
    body, _ = _paid(pay, topup_id, **changes)

    _fail_shape(pay.post(body), status)
    assert _credited(member_id) == 0


def test_the_same_notification_five_times_and_five_copies_credit_once(api: Api, pay: FakePay) -> None:
    _, member_id, topup_id = _order(api, pay)
    body, note = _paid(pay, topup_id)
    copies = [_paid(pay, topup_id)[0] for _ in range(5)]  # new ids, the same transaction_id

    answers = [pay.post(body).status_code for _ in range(5)] + [pay.post(copy).status_code for copy in copies]

    assert answers == [204] * 10
    assert _credited(member_id) == 50_000
    assert PayNotificationModel.get(note["id"]).times_received == 5
    assert PayNotificationModel.count() == 6
    assert reconcile_wallet(member_id) is None


def test_the_fake_resends_while_the_answer_is_not_2xx_and_it_credits_once(api: Api, pay: FakePay) -> None:
    _, member_id, topup_id = _order(api, pay)
    pay.intercept.extend([503, 500])  # the first two copies meet an outage

    pay.state.notify_payment(topup_id)
    assert pay.state.deliveries.wait()

    assert [d["status"] for d in pay.state.deliveries.log] == [503, 500, 204]
    assert _credited(member_id) == 50_000


def test_platform_certificate_mode_verifies_with_the_certificate_and_refuses_the_public_key(
    api: Api, pay: FakePay
) -> None:
    pay.use_mode(wk.CERTIFICATE)
    _, member_id, topup_id = _order(api, pay)  # the client itself verified the fake's answers by certificate
    body, _ = _paid(pay, topup_id)
    by_public_key = wk.signed_headers(pay.keys, wk.PUBLIC_KEY, body, int(pay.headers(body)["Wechatpay-Timestamp"]))

    refused = pay.post(body, {"Content-Type": "application/json", **by_public_key})
    accepted = pay.post(body)

    _fail_shape(refused, 401)
    assert accepted.status_code == 204 and _credited(member_id) == 50_000


def test_while_migrating_both_the_certificate_and_the_public_key_verify(api: Api, pay: FakePay) -> None:
    certificate = pay.keys.merchant_env(wk.CERTIFICATE)["WECHATPAY_PLATFORM_CERT"]
    apply_env({**pay.keys.merchant_env(wk.PUBLIC_KEY), "WECHATPAY_PLATFORM_CERT": certificate})
    _, member_id, topup_id = _order(api, pay)
    body, _ = _paid(pay, topup_id)
    by_cert = wk.signed_headers(pay.keys, wk.CERTIFICATE, body, int(pay.headers(body)["Wechatpay-Timestamp"]))

    assert pay.post(body, {"Content-Type": "application/json", **by_cert}).status_code == 204
    assert pay.post(body).status_code == 204
    assert _credited(member_id) == 50_000


def test_an_unpaid_state_and_unknown_events_are_acknowledged_without_effect(api: Api, pay: FakePay) -> None:
    _, member_id, topup_id = _order(api, pay)
    closed, _ = _paid(pay, topup_id, trade_state="CLOSED")
    other, _ = pay.notification("MCHTRANSFER.BILL.FINISHED", {"x": 1})

    assert pay.post(closed).status_code == 204 and pay.post(other).status_code == 204
    assert _credited(member_id) == 0


def test_a_notification_that_is_not_json_is_415_fail(api: Api, pay: FakePay) -> None:
    body = b"<xml></xml>"
    response = pay.post(body, {**pay.headers(body), "Content-Type": "text/xml"})

    _fail_shape(response, 415)


def test_the_fake_resends_over_http_on_the_compressed_schedule_until_2xx() -> None:
    answers = [500, 502, 204]
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(dict(self.headers))
            self.send_response(answers[len(seen) - 1])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        deliveries = Deliveries(http_deliver, 1 / 100_000)
        stamps = iter(range(1_000, 1_100))
        deliveries.send(
            f"http://127.0.0.1:{server.server_port}/n",
            {"id": "n-1", "event_type": "X"},
            lambda _b: {"X-T": str(next(stamps))},
        )
        assert deliveries.wait()
    finally:
        server.shutdown()

    assert [d["status"] for d in deliveries.log] == [500, 502, 204]
    assert [h["X-T"] for h in seen] == ["1000", "1001", "1002"]  # signed afresh for each attempt
