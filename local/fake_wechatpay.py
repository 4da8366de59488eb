"""A fake of WeChat Pay APIv3 on 127.0.0.1, with its own RSA keys (local/wechatpay_keys.py), for
the local stack and tests: the real wechatpayv3 client talks to it.

It checks the merchant's `Authorization` signature (not its timestamp: wechatpayv3 uses the wall
clock, tests pin ours), signs every answer as WeChat Pay does, and serves JSAPI prepay, the order
query and close, refunds and their query, `/v3/certificates`. A payment happens on a local call; its
notification, and each refund's, is signed, AEAD_AES_256_GCM-encrypted and sent to the
callback URL, again while the answer is not 2xx (local/wechatpay_delivery.py).

Control endpoints, not recorded as calls: `POST /_pay {"out_trade_no", "notify": true}` pays an
order (`notify: false`: the notification is lost); `POST /_refund {"out_refund_no", "status"}`
moves a refund (SUCCESS, ABNORMAL, CLOSED) and notifies; `POST /_refund_outcome {"status"}`
sets what new refunds become (`null`: they stay PROCESSING); `GET /_calls`, `GET /_deliveries`,
`GET /_orders`, `POST /_reset`, `POST /_fail {"path", "status", "times"}`.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from chalicelib.clock import epoch_seconds
from local import wechatpay_keys as wk
from local.wechatpay_delivery import Deliver, Deliveries, http_deliver
from local.wechatpay_server import FakeWeChatPayServer, start_fake_wechatpay

logger = logging.getLogger("fake_wechatpay")
Json = dict[str, Any]
Reply = tuple[int, Any]  # status, JSON body (None: no body)
_AUTH = re.compile(r'(\w+)="([^"]*)"')
_ORDER = re.compile(r"^/v3/pay/transactions/out-trade-no/([^/]+)(/close)?$")
_REFUND = re.compile(r"^/v3/refund/domestic/refunds/([^/]+)$")
SUMMARIES = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}


def _fail(status: int, code: str, message: str) -> Reply:
    return status, {"code": code, "message": message}


class FakeWeChatPay:
    """All state; `handle` runs each request under one lock."""

    def __init__(
        self, keys: wk.PayKeys, *, mode: str = wk.PUBLIC_KEY, clock: Callable[[], float] = epoch_seconds,
        scale: float = 1 / 600, deliver: Deliver = http_deliver,
    ) -> None:  # fmt: skip
        self.keys, self.mode, self._clock = keys, mode, clock
        self._merchant_public = wk.merchant_public_pem(keys)
        self._lock = threading.RLock()
        self.deliveries = Deliveries(deliver, scale)
        self.orders: dict[str, Json] = {}
        self.refunds: dict[str, Json] = {}
        self.calls: list[Json] = []
        self.refund_outcome: str | None = "SUCCESS"
        self._failures: dict[str, list[int]] = {}  # path -> [status, remaining]
        self._counter = 0

    def _now(self) -> str:
        return datetime.fromtimestamp(self._clock(), ZoneInfo("Asia/Shanghai")).isoformat(timespec="seconds")

    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{int(self._clock())}{self._counter:08d}"

    def sign(self, body: bytes) -> dict[str, str]:
        return wk.signed_headers(self.keys, self.mode, body, int(self._clock()))

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        path = urlsplit(target).path
        parsed = json.loads(body) if body.strip() else {}
        payload: Json = parsed if isinstance(parsed, dict) else {}
        with self._lock:
            control = self._control(method, path, payload)
            if control is not None:
                return control
            self.calls.append({"method": method, "path": path, "body": payload})
            failure = self._failures.get(path)
            if failure is not None and failure[1] > 0:
                failure[1] -= 1
                return _fail(failure[0], "SYSTEM_ERROR", "injected failure")
            if not self._authorised(method, target, headers, body):
                return _fail(401, "SIGN_ERROR", "签名错误")
            return self._route(method, path, payload)

    def _authorised(self, method: str, target: str, headers: dict[str, str], body: bytes) -> bool:
        scheme, _, rest = headers.get("authorization", "").partition(" ")
        fields = dict(_AUTH.findall(rest))
        if scheme != wk.SIGNATURE_TYPE or fields.get("mchid") != self.keys.mchid:
            return False
        if fields.get("serial_no") != self.keys.merchant_serial:
            return False
        signed = f"{method}\n{target}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n".encode() + body + b"\n"
        return wk.rsa_verify(self._merchant_public, signed, fields.get("signature", ""))

    def _route(self, method: str, path: str, payload: Json) -> Reply:
        if (method, path) == ("POST", "/v3/pay/transactions/jsapi"):
            return self._prepay(payload)
        if (method, path) == ("POST", "/v3/refund/domestic/refunds"):
            return self._refund(payload)
        if (method, path) == ("GET", "/v3/certificates"):
            return self._certificates()
        order, refund = _ORDER.match(path), _REFUND.match(path)
        if order and method == "POST" and order.group(2):
            return self._close(order.group(1))
        if order and method == "GET" and not order.group(2):
            found = self.orders.get(order.group(1))
            return (200, _public(found)) if found else _fail(404, "ORDER_NOT_EXIST", "订单不存在")
        if refund and method == "GET":
            found = self.refunds.get(refund.group(1))
            return (200, _public(found)) if found else _fail(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return _fail(404, "NOT_FOUND", "no such API in the fake")

    # Payments.
    def _prepay(self, body: Json) -> Reply:
        no, amount = str(body.get("out_trade_no") or ""), body.get("amount") or {}
        payer = (body.get("payer") or {}).get("openid")
        if body.get("mchid") != self.keys.mchid or not body.get("appid") or not body.get("description"):
            return _fail(400, "PARAM_ERROR", "mchid, appid and description are required")
        if not re.fullmatch(r"[A-Za-z0-9_\-|*]{6,32}", no) or not payer or not body.get("notify_url"):
            return _fail(400, "PARAM_ERROR", "out_trade_no, payer.openid or notify_url invalid")
        if not isinstance(amount.get("total"), int) or amount["total"] < 1:
            return _fail(400, "PARAM_ERROR", "amount.total must be a positive integer")
        found = self.orders.get(no)
        if found is not None:
            if found["_request"] != body:
                return _fail(400, "INVALID_REQUEST", "201 商户订单号重复")
            if found["trade_state"] == "CLOSED":
                return _fail(400, "ORDER_CLOSED", "订单已关闭")
            return 200, {"prepay_id": found["_prepay_id"]}
        prepay_id = "wx" + secrets.token_hex(16)
        self.orders[no] = {
            "_request": body, "_prepay_id": prepay_id, "_notify_url": body["notify_url"],
            "appid": body["appid"], "mchid": self.keys.mchid, "out_trade_no": no, "trade_type": "JSAPI",
            "trade_state": "NOTPAY", "trade_state_desc": "订单未支付", "payer": {"openid": payer},
            "amount": {"total": amount["total"], "currency": "CNY"}, "_refunded": 0,
            "_time_expire": body.get("time_expire"),
        }  # fmt: skip
        return 200, {"prepay_id": prepay_id}

    def _close(self, no: str) -> Reply:
        order = self.orders.get(no)
        if order is None:
            return _fail(404, "ORDER_NOT_EXIST", "订单不存在")
        if order["trade_state"] in ("SUCCESS", "REFUND"):
            return _fail(400, "ORDERPAID", "订单已支付")
        order.update(trade_state="CLOSED", trade_state_desc="订单已关闭")
        return 204, None

    def pay(self, no: str, *, notify: bool = True) -> Json:
        """The member pays (the local "pay" call): SUCCESS, and its notification unless lost."""
        with self._lock:
            order = self.orders.get(no)
            if order is None or order["trade_state"] != "NOTPAY":
                raise ValueError(f"order {no} cannot be paid: {order and order['trade_state']}")
            total = order["amount"]["total"]
            order.update(
                trade_state="SUCCESS", trade_state_desc="支付成功", transaction_id=self._next_id("4200"),
                success_time=self._now(), bank_type="OTHERS", attach="",
                amount={"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
            )  # fmt: skip
            if notify:
                self.notify_payment(no)
            return _public(order)

    def notify_payment(self, no: str, **send: Any) -> Json:
        """(Another copy of) the order's TRANSACTION.SUCCESS notification, a new notification id."""
        order = self.orders[no]
        note = wk.envelope(self.keys.apiv3_key, "TRANSACTION.SUCCESS", "支付成功", _public(order), self._now())
        self.deliveries.send(order["_notify_url"], note, self.sign, **send)
        return note

    # Refunds.
    def _refund(self, body: Json) -> Reply:
        no, amount = str(body.get("out_refund_no") or ""), body.get("amount") or {}
        order = self.orders.get(str(body.get("out_trade_no") or ""))
        if not re.fullmatch(r"[A-Za-z0-9_\-|*@]{1,64}", no):
            return _fail(400, "PARAM_ERROR", "out_refund_no invalid")
        if no in self.refunds:
            return 200, _public(self.refunds[no])
        if order is None:
            return _fail(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if order["trade_state"] not in ("SUCCESS", "REFUND"):
            return _fail(400, "INVALID_REQUEST", "订单未支付")
        refund, total = amount.get("refund"), order["amount"]["total"]
        if amount.get("total") != total or not isinstance(refund, int) or not 1 <= refund <= total - order["_refunded"]:
            return _fail(400, "INVALID_REQUEST", "退款金额超过订单可退金额")
        order["_refunded"] += refund
        order.update(trade_state="REFUND", trade_state_desc="转入退款")
        self.refunds[no] = {
            "_notify_url": body.get("notify_url") or order["_notify_url"], "refund_id": self._next_id("5030"),
            "out_refund_no": no, "transaction_id": order["transaction_id"], "out_trade_no": order["out_trade_no"],
            "channel": "ORIGINAL", "user_received_account": "支付用户零钱", "create_time": self._now(),
            "status": "PROCESSING", "amount": {"total": total, "refund": refund, "payer_total": total,
            "payer_refund": refund, "currency": "CNY"},
        }  # fmt: skip
        answer = _public(self.refunds[no])
        if self.refund_outcome is not None:
            self.deliveries.track(threading.Timer(0.05, self._auto_finish, args=(no, self.refund_outcome)))
        return 200, answer

    def _auto_finish(self, no: str, status: str) -> None:
        try:
            self.finish_refund(no, status)
        except (KeyError, ValueError):  # reset meanwhile, or moved by a control call first
            return

    def finish_refund(self, no: str, status: str, **send: Any) -> Json:
        with self._lock:
            refund = self.refunds[no]
            if refund["status"] in ("SUCCESS", "CLOSED"):
                raise ValueError(f"refund {no} is already {refund['status']}")
            refund["status"] = status
            if status == "SUCCESS":
                refund["success_time"] = self._now()
            if status == "CLOSED":
                self.orders[refund["out_trade_no"]]["_refunded"] -= refund["amount"]["refund"]
            resource = {**_public(refund), "mchid": self.keys.mchid, "refund_status": status}
            resource.pop("status")
            note = wk.envelope(self.keys.apiv3_key, f"REFUND.{status}", SUMMARIES[status], resource, self._now())
            self.deliveries.send(refund["_notify_url"], note, self.sign, **send)
            return note

    def _certificates(self) -> Reply:
        return 200, {"data": [wk.encrypted_certificate(self.keys)]}

    # Control.
    def _control(self, method: str, path: str, body: Json) -> Reply | None:
        try:
            if (method, path) == ("POST", "/_pay"):
                return 200, self.pay(str(body.get("out_trade_no")), notify=body.get("notify", True) is not False)
            if (method, path) == ("POST", "/_refund"):
                return 200, self.finish_refund(str(body.get("out_refund_no")), str(body.get("status")))
        except (KeyError, ValueError) as error:
            return 400, {"error": str(error)}
        if (method, path) == ("POST", "/_refund_outcome"):
            self.refund_outcome = body.get("status")
            return 200, {"ok": True}
        if (method, path) == ("POST", "/_fail"):
            self._failures[str(body.get("path"))] = [int(body.get("status", 500)), int(body.get("times", 1))]
            return 200, {"ok": True}
        if (method, path) == ("POST", "/_reset"):
            self.reset()
            return 200, {"ok": True}
        if method != "GET":
            return None
        views = {
            "/_calls": lambda: list(self.calls),
            "/_deliveries": lambda: list(self.deliveries.log),
            "/_orders": lambda: [_public(order) for order in self.orders.values()],
        }
        view = views.get(path)
        return None if view is None else (200, view())

    def reset(self) -> None:
        self.deliveries.reset()
        with self._lock:
            self.orders.clear()
            self.refunds.clear()
            self.calls.clear()
            self._failures.clear()
            self.refund_outcome = "SUCCESS"


def _public(item: Json) -> Json:
    return {key: value for key, value in item.items() if not key.startswith("_")}


def main() -> None:
    parser = argparse.ArgumentParser(description="fake WeChat Pay APIv3 on 127.0.0.1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8092)
    parser.add_argument("--keys", type=Path, required=True, help="the fake's keys (local/wechatpay_keys.py save)")
    parser.add_argument("--mode", choices=[wk.PUBLIC_KEY, wk.CERTIFICATE], default=wk.PUBLIC_KEY)
    parser.add_argument("--scale", type=float, default=1 / 600, help="resend schedule × this (1/600: a day in 144 s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    server = FakeWeChatPayServer(
        (args.host, args.port), FakeWeChatPay(wk.load(args.keys), mode=args.mode, scale=args.scale)
    )
    logger.info("fake WeChat Pay on http://%s:%d", args.host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


__all__ = ["FakeWeChatPay", "FakeWeChatPayServer", "start_fake_wechatpay"]

if __name__ == "__main__":
    main()
