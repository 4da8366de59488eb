"""The WeChat Pay APIv3 client (微信支付): wechatpayv3 2.0.4, pointed at a configurable base URL.

What we use: JSAPI prepay for the mini-program (`/v3/pay/transactions/jsapi`), the order query
and close by out_trade_no, refunds (`/v3/refund/domestic/refunds`) and their query, and the
`requestPayment` signature. wechatpayv3 signs every request with the merchant's key and
verifies every answer's signature with WeChat Pay's key.

Two things wechatpayv3 cannot be told, so `_Core` subclasses its `Core` minimally: the gateway
is hard-coded to https://api.mch.weixin.qq.com (the local stack and tests use a fake on
127.0.0.1), and in platform-certificate mode its constructor downloads the certificates from
that gateway. `_Core` sets the gateway first and loads the configured certificate, if there is
one, instead of downloading; with a WeChat Pay public key (public-key mode) wechatpayv3 needs no
certificate at all. Both may be configured while a merchant migrates.

Errors: `PayUnavailable` (no answer, a timeout, 5xx/429, an answer whose signature fails: try
again later) and `PayRejected` (a 4xx with WeChat Pay's `code`). wechatpayv3 and requests are
imported on first use.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from chalicelib.observability import logger
from chalicelib.settings import Settings, get_settings
from chalicelib.wechat.pay_signature import pem


class PayUnavailable(Exception):
    """WeChat Pay did not answer usefully: the call may be tried again (the same ids)."""


class PayRejected(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"WeChat Pay {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class PayConfig:
    mchid: str
    appid: str
    apiv3_key: str
    private_key: str
    cert_serial: str
    public_key: str
    public_key_id: str
    platform_cert: str
    notify_url: str
    api_base: str
    timeout: float

    @classmethod
    def of(cls, settings: Settings) -> PayConfig:
        return cls(
            mchid=settings.wechatpay_mchid,
            appid=settings.wechatpay_appid or settings.wechat_mini_appid,
            apiv3_key=settings.wechatpay_apiv3_key,
            private_key=settings.wechatpay_private_key,
            cert_serial=settings.wechatpay_cert_serial,
            public_key=settings.wechatpay_public_key,
            public_key_id=settings.wechatpay_public_key_id,
            platform_cert=settings.wechatpay_platform_cert,
            notify_url=settings.wechatpay_notify_url,
            api_base=settings.wechatpay_api_base.rstrip("/"),
            timeout=settings.wechatpay_timeout_seconds,
        )

    @property
    def configured(self) -> bool:
        ours = self.mchid and self.apiv3_key and self.private_key and self.cert_serial and self.notify_url
        theirs = (self.public_key and self.public_key_id) or self.platform_cert
        return bool(ours and theirs)

    def cache_key(self) -> str:
        values = json.dumps([getattr(self, spec.name) for spec in fields(self)])
        return hashlib.sha256(values.encode()).hexdigest()


def _core_class() -> Any:
    from wechatpayv3.core import Core
    from wechatpayv3.utils import load_certificate

    class _Core(Core):  # type: ignore[misc]
        def __init__(self, gateway: str, platform_cert: str, **kwargs: Any) -> None:
            self._gateway, self._platform_cert = gateway, platform_cert
            super().__init__(**kwargs)
            self._gate_way = gateway
            if platform_cert and not self._certificates:
                self._load_configured_certificate()

        def _init_certificates(self) -> None:  # certificate mode only: instead of a download
            self._gate_way = self._gateway
            if not self._load_configured_certificate():
                super()._init_certificates()

        def _load_configured_certificate(self) -> bool:
            certificate = (
                load_certificate(pem(self._platform_cert, "CERTIFICATE").decode()) if self._platform_cert else None
            )
            if certificate is not None:
                self._certificates.append(certificate)
            return certificate is not None

    return _Core


class PayClient:
    def __init__(self, config: PayConfig) -> None:
        from wechatpayv3 import WeChatPay, WeChatPayType

        class _Pay(WeChatPay):  # type: ignore[misc]
            """WeChatPay's own constructor builds its Core (and in certificate mode calls the
            real gateway): the same attributes, with our Core."""

            def __init__(self, core: Any) -> None:
                self._type, self._mchid, self._appid = WeChatPayType.MINIPROG, config.mchid, config.appid
                self._notify_url, self._partner_mode, self._core = config.notify_url, False, core

        core = _core_class()(
            config.api_base,
            config.platform_cert,
            mchid=config.mchid,
            cert_serial_no=config.cert_serial,
            private_key=pem(config.private_key, "PRIVATE KEY").decode(),
            apiv3_key=config.apiv3_key,
            timeout=(config.timeout, config.timeout),
            public_key=pem(config.public_key, "PUBLIC KEY").decode() if config.public_key else None,
            public_key_id=config.public_key_id or None,
        )
        self.config = config
        self._pay = _Pay(core)

    def jsapi_prepay(self, out_trade_no: str, description: str, amount_fen: int, openid: str, expires: datetime) -> str:
        time_expire = expires.isoformat(timespec="seconds")
        code, body = self._call(
            self._pay.pay,
            description=description,
            out_trade_no=out_trade_no,
            amount={"total": amount_fen, "currency": "CNY"},
            payer={"openid": openid},
            time_expire=time_expire,
        )
        prepay_id = body.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise PayUnavailable(f"prepay answered {code} without a prepay_id")
        return prepay_id

    def query_order(self, out_trade_no: str) -> dict[str, Any] | None:
        """The order as WeChat Pay has it; None when it has no such order (never prepaid)."""
        try:
            return self._call(self._pay.query, out_trade_no=out_trade_no)[1]
        except PayRejected as rejected:
            if rejected.code == "ORDER_NOT_EXIST":
                return None
            raise

    def close_order(self, out_trade_no: str) -> None:
        self._call(self._pay.close, out_trade_no=out_trade_no)

    def refund(
        self, out_refund_no: str, out_trade_no: str, refund_fen: int, total_fen: int, reason: str = "储值退款"
    ) -> dict[str, Any]:
        amount = {"refund": refund_fen, "total": total_fen, "currency": "CNY"}
        return self._call(
            self._pay.refund, out_refund_no=out_refund_no, out_trade_no=out_trade_no, amount=amount, reason=reason
        )[1]

    def query_refund(self, out_refund_no: str) -> dict[str, Any] | None:
        try:
            return self._call(self._pay.query_refund, out_refund_no=out_refund_no)[1]
        except PayRejected as rejected:
            if rejected.code == "RESOURCE_NOT_EXISTS":
                return None
            raise

    def payment_params(self, prepay_id: str, timestamp: str, nonce: str) -> dict[str, str]:
        """`wx.requestPayment`'s parameters: paySign is RSA over appId, timeStamp, nonceStr, package."""
        package = f"prepay_id={prepay_id}"
        sign = self._pay.sign([self.config.appid, timestamp, nonce, package])
        return {"timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA", "paySign": sign}

    def _call(self, method: Any, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        import requests

        try:
            code, text = method(**kwargs)
        except requests.RequestException as error:
            raise PayUnavailable(f"WeChat Pay unreachable: {type(error).__name__}") from None
        except Exception as error:
            if type(error) is not Exception:  # wechatpayv3 raises a bare Exception when an answer's signature fails
                raise
            logger.warning("WeChat Pay answer refused", extra={"error": str(error)[:200]})
            raise PayUnavailable("WeChat Pay answer not verified") from None
        body = _json(text)
        if code >= 500 or code == 429:
            raise PayUnavailable(f"WeChat Pay answered {code} {body.get('code', '')}")
        if code >= 400:
            raise PayRejected(code, str(body.get("code") or ""), str(body.get("message") or ""))
        return code, body


def _json(text: Any) -> dict[str, Any]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        found = json.loads(text) if text else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


_clients: dict[str, PayClient] = {}
_lock = threading.Lock()


def get_pay_client() -> PayClient | None:
    """The client of the settings in force (a rotated key makes a new one); None when WeChat Pay
    is not configured."""
    config = PayConfig.of(get_settings())
    if not config.configured:
        return None
    key = config.cache_key()
    with _lock:
        client = _clients.get(key)
        if client is None:
            _clients.clear()
            client = _clients[key] = PayClient(config)
        return client
