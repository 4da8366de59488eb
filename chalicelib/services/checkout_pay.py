"""The WeChat Pay part of a checkout (`pay_with: wechat_pay`): the member pays the cash rest in
the mini-program (JSAPI) while the coupons, points and wallet amount the checkout took are held.

The JSAPI order is placed after the checkout commits (out_trade_no `wc…` from the order id, so a
retried confirm places the same order); its `time_expire` is the hold's end. A notification (a
hint) or the settle job's order query (the truth) settles the checkout from held to paid under a
condition, once; a hold that ends unpaid is closed at WeChat Pay first (asked again afterwards: a
payment may have slipped in), then cancelled: everything taken goes back (services/checkout.py).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.clock import iso
from chalicelib.domain.checkout import Checkout, CheckoutNotFound, CheckoutRefused, CheckoutStatus
from chalicelib.domain.errors import WeChatUnavailable
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.topups import DEAD_STATES, PAID_STATES, check_paid_order
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store import checkout_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork
from chalicelib.wechat.pay import PayRejected, PayUnavailable

PAID, ALREADY, WAITING, CANCELLED, REFUNDED = "paid", "already", "waiting", "cancelled", "refunded"


def order_payment(checkout: Checkout, now: datetime) -> Checkout:
    """The JSAPI order of a held checkout, once (WeChat Pay answers the same out_trade_no and
    parameters with the same prepay id): a failure leaves the checkout held and is 503 — the
    POS retries the confirm, or the hold ends and it is cancelled."""
    if checkout.prepay_id is not None or checkout.trade_no is None or checkout.openid is None:
        return checkout
    from chalicelib.services.topups import pay_client

    client = pay_client()
    cash = checkout.cash_fen
    expires = datetime.fromisoformat(checkout.expires_at or iso(now)).astimezone(ZoneInfo(get_settings().timezone))
    description = f"订单 {checkout.order_id}"[:127]
    try:
        prepay_id = client.jsapi_prepay(checkout.trade_no, description, cash, checkout.openid, expires)
    except (PayUnavailable, PayRejected) as error:
        logger.warning("WeChat Pay prepay failed", extra={"order_id": checkout.order_id, "error": str(error)})
        raise WeChatUnavailable("WeChat Pay did not take the order; retry the confirm") from None
    return checkout_repo.set_prepay(checkout, prepay_id, str(int(now.timestamp())), secrets.token_hex(16))


def payment_params(checkout: Checkout) -> dict[str, str] | None:
    if checkout.prepay_id is None or checkout.pay_timestamp is None or checkout.pay_nonce is None:
        return None
    from chalicelib.services.topups import pay_client

    return pay_client().payment_params(checkout.prepay_id, checkout.pay_timestamp, checkout.pay_nonce)


def settle_paid(trade_no: str, transaction: dict[str, Any], now: datetime, by: str) -> str:
    """Held → paid, once: `paid`, or `already`. A payment for a checkout cancelled meanwhile is
    logged for the operator (WeChat Pay refunds it through the merchant platform)."""
    from chalicelib.services.topups import _paid_at as paid_at
    from chalicelib.services.topups import pay_client

    found = checkout_repo.find_by_trade_no(trade_no)
    if found is None:
        raise CheckoutNotFound("no checkout has this out_trade_no", field="out_trade_no")
    client = pay_client()
    transaction_id = check_paid_order(trade_no, found.cash_fen, transaction, client.config.mchid, client.config.appid)
    for _ in range(get_settings().tx_max_attempts):
        if found.status == CheckoutStatus.PAID:
            return ALREADY
        if found.status != CheckoutStatus.HELD:
            return _paid_after_cancel(found, transaction_id)
        after = replace(
            found,
            status=CheckoutStatus.PAID,
            transaction_id=transaction_id,
            paid_at=paid_at(transaction.get("success_time"), now),
            version=found.version + 1,
        )
        tx = UnitOfWork(get_settings().region)
        checkout_repo.stage_update(tx, found, after)
        data = {"order_id": found.order_id, "cash_fen": found.cash_fen, "by": by}
        tx.stage_event(DomainEvent(f"checkout:{found.order_id}#paid", "checkout.paid", found.member_id, iso(now), data))
        try:
            tx.commit()
            return PAID
        except TransactionFailed as failure:
            if not (failure.failed(checkout_repo.CHECKOUT_TAG) or failure.retryable):
                raise
        found = checkout_repo.get(found.order_id) or found
    return ALREADY


def _paid_after_cancel(found: Checkout, transaction_id: str) -> str:
    """The member paid a checkout cancelled meanwhile (its hold ended as the payment went
    through): the money goes back in full through WeChat Pay, under an out_refund_no of its own
    (WeChat Pay answers a resent one with the same refund), so every copy of the notification
    refunds it once; a failure is raised, and WeChat Pay's resend tries again."""
    from chalicelib.services.checkout_refunds import refund_no
    from chalicelib.services.topups import pay_client

    if found.trade_no is None:
        return ALREADY
    logger.warning("payment for a cancelled checkout: refunded", extra={"order_id": found.order_id,
                   "transaction_id": transaction_id})  # fmt: skip
    cash = found.cash_fen
    pay_client().refund(refund_no(found.order_id, "paid-after-cancel"), found.trade_no, cash, cash, reason="订单已取消")
    return REFUNDED


def close_payment(checkout: Checkout, now: datetime) -> None:
    """Before a held checkout is cancelled: its WeChat Pay order closed. Paid meanwhile: settled
    now (a lost notification), then 409, a paid checkout being refunded, not cancelled. WeChat Pay
    unreachable: 503, nothing cancelled."""
    from chalicelib.services.topups import pay_client

    if checkout.trade_no is None or checkout.prepay_id is None:
        return
    client = pay_client()
    try:
        order = client.query_order(checkout.trade_no)
        if order is not None and str(order.get("trade_state")) not in (*PAID_STATES, *DEAD_STATES):
            client.close_order(checkout.trade_no)
            order = client.query_order(checkout.trade_no)
    except (PayUnavailable, PayRejected) as error:
        logger.warning("WeChat Pay close failed", extra={"order_id": checkout.order_id, "error": str(error)})
        raise WeChatUnavailable("WeChat Pay did not answer; retry the cancel") from None
    if order is not None and str(order.get("trade_state")) in PAID_STATES:
        settle_paid(checkout.trade_no, order, now, "query")
        raise CheckoutRefused("the member has paid: refund the order instead", field="order_id", code="checkout_paid")


def follow_up(order_id: str, now: datetime) -> str:
    """The settle job, for one held checkout: paid at WeChat Pay → settled; its hold over and
    unpaid → closed there and cancelled here; else waiting."""
    from chalicelib.services import checkout_cancel
    from chalicelib.services.topups import pay_client

    found = checkout_repo.get(order_id)
    if found is None or found.status != CheckoutStatus.HELD or found.trade_no is None:
        return ALREADY
    order = pay_client().query_order(found.trade_no) if found.prepay_id else None
    if order is not None and str(order.get("trade_state")) in PAID_STATES:
        return settle_paid(found.trade_no, order, now, "query")
    if found.expires_at is not None and now < datetime.fromisoformat(found.expires_at):
        return WAITING
    try:
        checkout_cancel.cancel(order_id, found.pos_client, now, by="hold_expired")
    except CheckoutRefused:  # paid between the query and the close: the close settled it
        after = checkout_repo.get(order_id)
        if after is not None and after.status == CheckoutStatus.PAID:
            return PAID
        raise
    return CANCELLED
