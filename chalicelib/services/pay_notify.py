"""WeChat Pay notifications (`POST /wechat/pay/notify`): payment results and refund results.

Verified over the raw body and decrypted first (wechat/pay_signature.py); only then is the
envelope stored under its notification id, and the resource acted on: TRANSACTION.SUCCESS
credits the top-up it names (once per transaction_id, whatever the number of copies), the
REFUND.* events move the refund they name. A notification is a hint: the settle job asks
WeChat Pay about whatever a lost one would have told.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain.wallet import RefundRefused, TopupNotFound
from chalicelib.observability import logger
from chalicelib.services import topups, wallet_refunds
from chalicelib.settings import get_settings
from chalicelib.store import topups_repo
from chalicelib.wechat.pay import get_pay_client
from chalicelib.wechat.pay_signature import NotificationRefused, read_notification, verifying_keys

CHECKOUT_PREFIX = "wc"  # a checkout's WeChat Pay part (services/checkout.py trade_no); top-ups are `wt`
CHECKOUT_REFUND_PREFIX = "cr"  # its refunds (services/checkout_refunds.py); top-ups' are `wr`
MALL_PREFIX = "wm"  # a points + cash gift's cash part (services/mall_pay.py)
MALL_REFUND_PREFIX = "mr"  # its refund (domain/mall_redemptions.py refund_no)


class UnknownSubject(Exception):
    """A verified notification about an order or refund we never made."""


def handle(headers: dict[str, str], raw: bytes, now: datetime) -> str:
    """What the notification did (`credited`, `already`, a refund's status, `ignored`). Raises
    NotificationRefused (signature, window, probe, envelope), UnknownSubject, PaymentMismatch."""
    client = get_pay_client()
    if client is None:  # no merchant here: nothing can verify it (401, as an unknown key)
        raise NotificationRefused("not_configured")
    config, settings = client.config, get_settings()
    keys = verifying_keys(config.public_key, config.public_key_id, config.platform_cert, now)
    notification = read_notification(
        headers, raw, now, keys, config.apiv3_key, settings.wechatpay_notify_max_skew_seconds
    )
    resource = notification.resource
    kind = notification.event_type
    logger.append_keys(notification_id=notification.notification_id)
    try:
        first = topups_repo.record_notification(notification.notification_id, kind, notification.envelope, now)
        logger.info("WeChat Pay notification", extra={"event_type": kind, "first_copy": first})
        if kind.startswith("TRANSACTION."):
            return _payment(resource, now)
        if kind.startswith("REFUND."):
            return _refund(resource, now)
        return "ignored"
    finally:
        logger.remove_keys(["notification_id"])


def _payment(transaction: dict[str, Any], now: datetime) -> str:
    out_trade_no = transaction.get("out_trade_no")
    if transaction.get("trade_state") != "SUCCESS":
        return "ignored"  # only a success is notified; anything else waits for the settle job
    if str(out_trade_no or "").startswith(CHECKOUT_PREFIX):
        from chalicelib.domain.checkout import CheckoutNotFound
        from chalicelib.services import checkout_pay

        try:
            return checkout_pay.settle_paid(str(out_trade_no), transaction, now, "notify")
        except CheckoutNotFound:
            raise UnknownSubject("payment of an unknown checkout") from None
    if str(out_trade_no or "").startswith(MALL_PREFIX):
        from chalicelib.domain.mall import MallNotFound
        from chalicelib.services import mall_pay

        try:
            return mall_pay.settle_paid(str(out_trade_no), transaction, now, "notify")
        except MallNotFound:
            raise UnknownSubject("payment of an unknown mall redemption") from None
    try:
        return topups.settle_paid(str(out_trade_no or "-"), transaction, now, "notify")
    except TopupNotFound:
        raise UnknownSubject("payment of an unknown top-up") from None


def _refund(refund: dict[str, Any], now: datetime) -> str:
    if str(refund.get("out_refund_no") or "").startswith((CHECKOUT_REFUND_PREFIX, MALL_REFUND_PREFIX)):
        # A checked-out order's WeChat Pay part, refunded with the order (services/checkout_refunds.py):
        # the refund is ours, its outcome the merchant platform's to follow. So is a mall gift's cash
        # part, refunded with its cancel (services/mall_pay.py).
        logger.info("checkout refund answered", extra={"status": refund.get("refund_status")})
        return str(refund.get("refund_status") or "ignored").lower()
    try:
        return str(wallet_refunds.apply_answer(str(refund.get("out_refund_no") or "-"), refund, now).status)
    except RefundRefused:
        raise UnknownSubject("refund we never asked for") from None


__all__ = ["NotificationRefused", "UnknownSubject", "handle"]
