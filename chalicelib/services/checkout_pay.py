"""The WeChat Pay part of a checkout (`pay_with: wechat_pay`): the member pays the cash rest in
the mini-program (JSAPI) while the coupons, points and wallet amount the checkout took are held.

The JSAPI order is placed after the checkout commits (out_trade_no `wc…` from the order id, so a
retried confirm places the same order); its `time_expire` is the hold's end. A notification (a
hint) or the settle job's order query (the truth) settles the checkout from held to paid under a
condition, once; a hold that ends unpaid is closed at WeChat Pay first (asked again afterwards: a
payment may have slipped in), then cancelled: everything taken goes back (services/checkout.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain.checkout import Checkout, CheckoutNotFound, CheckoutRefused, CheckoutStatus
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.topups import check_paid_order
from chalicelib.observability import logger
from chalicelib.services import pay_orders
from chalicelib.settings import get_settings
from chalicelib.store import checkout_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork

PAID, ALREADY, WAITING, CANCELLED, REFUNDED = "paid", "already", "waiting", "cancelled", "refunded"


def order_payment(checkout: Checkout, now: datetime) -> Checkout:
    """The JSAPI order of a held checkout, once (WeChat Pay answers the same out_trade_no and
    parameters with the same prepay id): a failure leaves the checkout held and is 503 — the
    POS retries the confirm, or the hold ends and it is cancelled."""
    if checkout.prepay_id is not None or checkout.trade_no is None or checkout.openid is None:
        return checkout
    placed = pay_orders.place(
        checkout.trade_no, f"订单 {checkout.order_id}", checkout.cash_fen, checkout.openid,
        checkout.expires_at or iso(now), now,
    )  # fmt: skip
    return checkout_repo.set_prepay(checkout, placed.prepay_id, placed.timestamp, placed.nonce)


def payment_params(checkout: Checkout) -> dict[str, str] | None:
    if checkout.prepay_id is None or checkout.pay_timestamp is None or checkout.pay_nonce is None:
        return None
    return pay_orders.client().payment_params(checkout.prepay_id, checkout.pay_timestamp, checkout.pay_nonce)


def settle_paid(trade_no: str, transaction: dict[str, Any], now: datetime, by: str) -> str:
    """Held → paid, once: `paid`, or `already`; a payment for a checkout cancelled meanwhile is
    refunded in full (`refunded`)."""
    found = checkout_repo.find_by_trade_no(trade_no)
    if found is None:
        raise CheckoutNotFound("no checkout has this out_trade_no", field="out_trade_no")
    config = pay_orders.client().config
    transaction_id = check_paid_order(trade_no, found.cash_fen, transaction, config.mchid, config.appid)
    for _ in range(get_settings().tx_max_attempts):
        if found.status == CheckoutStatus.PAID:
            return ALREADY
        if found.status != CheckoutStatus.HELD:
            return _paid_after_cancel(found, transaction_id)
        after = replace(
            found,
            status=CheckoutStatus.PAID,
            transaction_id=transaction_id,
            paid_at=pay_orders.paid_at(transaction.get("success_time"), now),
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
    refunds it once; a failure is 503, and WeChat Pay's resend tries again."""
    from chalicelib.services.checkout_refunds import refund_no

    if found.trade_no is None:
        return ALREADY
    logger.warning("payment for a cancelled checkout: refunded", extra={"order_id": found.order_id,
                   "transaction_id": transaction_id})  # fmt: skip
    cash = found.cash_fen
    pay_orders.refund(refund_no(found.order_id, "paid-after-cancel"), found.trade_no, cash, cash, "订单已取消")
    return REFUNDED


def close_payment(checkout: Checkout, now: datetime) -> None:
    """Before a held checkout is cancelled: its WeChat Pay order closed. Paid meanwhile: settled
    now (a lost notification), then 409, a paid checkout being refunded, not cancelled. WeChat Pay
    unreachable: 503, nothing cancelled."""
    if checkout.trade_no is None or checkout.prepay_id is None:
        return
    order = pay_orders.close(checkout.trade_no)
    if order is not None and pay_orders.paid(order):
        settle_paid(checkout.trade_no, order, now, "query")
        raise CheckoutRefused("the member has paid: refund the order instead", field="order_id", code="checkout_paid")


def follow_up(order_id: str, now: datetime) -> str:
    """The settle job, for one held checkout: paid at WeChat Pay → settled; its hold over and
    unpaid → closed there and cancelled here; else waiting."""
    from chalicelib.services import checkout_cancel

    found = checkout_repo.get(order_id)
    if found is None or found.status != CheckoutStatus.HELD or found.trade_no is None:
        return ALREADY
    order = pay_orders.query(found.trade_no) if found.prepay_id else None
    if order is not None and pay_orders.paid(order):
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
