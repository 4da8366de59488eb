"""The WeChat Pay order steps every held payment shares (a checkout's cash part, a points + cash
gift's; services/checkout_pay.py and mall_pay.py): placing the JSAPI order, closing it before a
cancel (and asking again: a payment may have slipped in), refunding it, and reading its answer.
WeChat Pay unreachable or refusing is 503 `WeChatUnavailable` here: the caller's retry (same
key, same out_trade_no / out_refund_no) does it once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.clock import iso
from chalicelib.domain.errors import WeChatUnavailable
from chalicelib.domain.topups import DEAD_STATES, PAID_STATES
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.wechat.pay import PayClient, PayRejected, PayUnavailable, get_pay_client


@dataclass(frozen=True)
class Placed:
    """A placed order's prepay id and the `wx.requestPayment` timestamp and nonce to keep."""

    prepay_id: str
    timestamp: str
    nonce: str


def client() -> PayClient:
    found = get_pay_client()
    if found is None:
        raise WeChatUnavailable("WeChat Pay is not configured")
    return found


def place(trade_no: str, description: str, cash_fen: int, openid: str, expires_at: str, now: datetime) -> Placed:
    """The JSAPI order, expiring at `expires_at` (sent in the brand's time zone)."""
    expires = datetime.fromisoformat(expires_at).astimezone(ZoneInfo(get_settings().timezone))
    try:
        prepay_id = client().jsapi_prepay(trade_no, description[:127], cash_fen, openid, expires)
    except (PayUnavailable, PayRejected) as error:
        logger.warning("WeChat Pay prepay failed", extra={"trade_no": trade_no, "error": str(error)})
        raise WeChatUnavailable("WeChat Pay did not take the order; retry the same request") from None
    return Placed(prepay_id, str(int(now.timestamp())), secrets.token_hex(16))


def query(trade_no: str) -> dict[str, Any] | None:
    try:
        return client().query_order(trade_no)
    except (PayUnavailable, PayRejected) as error:
        raise WeChatUnavailable(f"WeChat Pay did not answer the order query: {error}") from None


def close(trade_no: str) -> dict[str, Any] | None:
    """The order closed unless paid or dead already, then as WeChat Pay has it now (paid, when a
    payment slipped in before the close; ORDERPAID refusing the close says the same)."""
    order = query(trade_no)
    if order is not None and not (paid(order) or state(order) in DEAD_STATES):
        try:
            client().close_order(trade_no)
        except PayRejected as rejected:
            logger.info("WeChat Pay close refused", extra={"trade_no": trade_no, "code": rejected.code})
        except PayUnavailable as error:
            raise WeChatUnavailable(f"WeChat Pay did not close the order: {error}") from None
        order = query(trade_no)
    return order


def refund(refund_no: str, trade_no: str, cash_fen: int, total_fen: int, reason: str) -> None:
    try:
        client().refund(refund_no, trade_no, cash_fen, total_fen, reason=reason)
    except (PayUnavailable, PayRejected) as error:
        logger.warning("WeChat Pay refund failed", extra={"refund_no": refund_no, "error": str(error)})
        raise WeChatUnavailable("WeChat Pay did not take the refund; retry the same request") from None


def state(order: dict[str, Any]) -> str:
    return str(order.get("trade_state") or "")


def paid(order: dict[str, Any] | None) -> bool:
    return order is not None and state(order) in PAID_STATES


def paid_at(success_time: Any, now: datetime) -> str:
    """WeChat Pay's `success_time` as our UTC instant (now, when it is missing or unreadable)."""
    try:
        return iso(datetime.fromisoformat(str(success_time)).astimezone(UTC))
    except ValueError:
        return iso(now)
