"""The cash part of a points + cash gift (积分+现金), paid through WeChat Pay in the mini-program
(JSAPI) while the points, the unit and the member's count the redemption took are held.

Physical gifts only (domain/mall.py `check_open`): a coupon or a code is issued at once and
could not be taken back if its cash went unpaid. The redemption commits as any other (ONE
transaction: points from lots, stock, count, record) but `awaiting_payment`, with its total cash
and a deadline (`checkout_hold_minutes`, as a checkout's hold). Then, outside it:

- its JSAPI order is placed (out_trade_no `wm…` from the redemption id, so a retried request
  places the same order) and the `wx.requestPayment` parameters stored once;
- a notification (a hint) or the settle job's query (the truth) moves it to pending (the
  fulfilment queue) under a condition on awaiting_payment: once, however many copies;
- unpaid at its deadline, or cancelled by the member or an operator before paying, its order is
  closed at WeChat Pay first (asked again after: a payment may have slipped in, and then it is
  a paid gift), then services/mall_cancel.py gives everything back;
- a paid gift cancelled before it ships gets its cash back through WeChat Pay, submitted after
  the cancel commits and on every retry of it; a payment landing after the cancel is refunded
  too. Both use the redemption's ONE out_refund_no (domain `refund_no`): WeChat Pay answers a
  resubmission with the same refund, so the cash goes back once, in full.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.clock import iso
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.mall import MallNotFound, MallRefused
from chalicelib.domain.mall_redemptions import (
    CashPart,
    Redemption,
    RedemptionStatus,
    redemption_of_trade,
    refund_no,
    trade_no,
)
from chalicelib.domain.topups import check_paid_order
from chalicelib.observability import logger
from chalicelib.services import pay_orders
from chalicelib.settings import get_settings
from chalicelib.store import mall_redemptions_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork
from chalicelib.wechat.pay import get_pay_client

if TYPE_CHECKING:
    from chalicelib.domain.members import Member

PAID, ALREADY, WAITING, CANCELLED, REFUNDED = "paid", "already", "waiting", "cancelled", "refunded"
EXPIRED = "payment_expired"  # `cancelled_by` when the settle job cancels an unpaid gift
REFUND_REASON = "积分商城退款"
PAID_EVENT = "mall.redemption_paid"


def check_payable(member: Member, cash_fen: int) -> None:
    """Before any point is taken: a cash part needs WeChat Pay here and the member in the
    mini-program (its openid pays the JSAPI order)."""
    if not cash_fen:
        return
    if get_pay_client() is None:
        raise MallRefused("WeChat Pay is not configured", field="cash_fen", code="mall_pay_unavailable")
    if not member.mini_openid:
        raise MallRefused("the cash part is paid in the mini-program", field="cash_fen",
                          code="mall_needs_mini_program")  # fmt: skip


def cash_part(member: Member, cash_fen: int, redemption_id: str, now: datetime) -> CashPart | None:
    """The cash part a redemption records (None without one): its order and its deadline."""
    if not cash_fen:
        return None
    expires = now + timedelta(minutes=get_settings().checkout_hold_minutes)
    return CashPart(cash_fen, trade_no(redemption_id), member.mini_openid or "", iso(expires))


def order_payment(redemption: Redemption, now: datetime) -> Redemption:
    """The JSAPI order of an unpaid redemption, once (WeChat Pay answers the same out_trade_no
    and parameters with the same prepay id): a failure leaves it unpaid and is 503 — the
    member's retry (same Idempotency-Key) places it, or the deadline passes and it is cancelled."""
    pay = redemption.pay
    if redemption.status != RedemptionStatus.AWAITING_PAYMENT or pay is None or pay.prepay_id is not None:
        return redemption
    if now >= datetime.fromisoformat(pay.expires_at):
        return redemption  # too late to pay: the settle job cancels it
    placed = pay_orders.place(pay.trade_no, f"积分商城 {redemption.reward_name}", pay.cash_fen, pay.openid,
                              pay.expires_at, now)  # fmt: skip
    return mall_redemptions_repo.set_prepay(redemption, placed.prepay_id, placed.timestamp, placed.nonce)


def payment_params(redemption: Redemption) -> dict[str, str] | None:
    """`wx.requestPayment`'s parameters while the member may still pay."""
    pay = redemption.pay
    if redemption.status != RedemptionStatus.AWAITING_PAYMENT or pay is None:
        return None
    if pay.prepay_id is None or pay.pay_timestamp is None or pay.pay_nonce is None:
        return None
    client = get_pay_client()  # not configured: nothing to pay with (the view still answers)
    return None if client is None else client.payment_params(pay.prepay_id, pay.pay_timestamp, pay.pay_nonce)


def settle_paid(trade_no_: str, transaction: dict[str, Any], now: datetime, by: str) -> str:
    """Awaiting payment → pending, once: `paid`, or `already`; a payment for a redemption
    cancelled meanwhile is refunded in full (`refunded`)."""
    found = _by_trade_no(trade_no_)
    config = pay_orders.client().config
    cash = found.cash_fen
    transaction_id = check_paid_order(trade_no_, cash, transaction, config.mchid, config.appid)
    for _ in range(get_settings().tx_max_attempts):
        if found.status == RedemptionStatus.CANCELLED:
            return _paid_after_cancel(found, transaction_id)
        if found.status != RedemptionStatus.AWAITING_PAYMENT:
            return ALREADY
        tx = UnitOfWork(get_settings().region)
        mall_redemptions_repo.stage_paid(tx, found, transaction_id, pay_orders.paid_at(transaction.get("success_time"), now),
                                         iso(now))  # fmt: skip
        rid = found.redemption_id
        data = {"redemption_id": rid, "reward_id": found.reward_id, "cash_fen": cash, "by": by}
        tx.stage_event(DomainEvent(f"mall:{rid}#paid", PAID_EVENT, found.member_id, iso(now), data))
        try:
            tx.commit()
            return PAID
        except TransactionFailed as failure:
            if not (failure.failed(mall_redemptions_repo.FULFILMENT) or failure.retryable):
                raise
        found = mall_redemptions_repo.get(found.member_id, rid) or found
    return ALREADY


def close_payment(redemption: Redemption, now: datetime) -> None:
    """Before an unpaid redemption is cancelled: its WeChat Pay order closed. Paid meanwhile (the
    notification not in yet): settled here, then 409 — it is a paid gift now, cancelled (with
    its cash refunded) as one."""
    pay = redemption.pay
    if redemption.status != RedemptionStatus.AWAITING_PAYMENT or pay is None:
        return
    order = pay_orders.close(pay.trade_no)
    if order is not None and pay_orders.paid(order):
        settle_paid(pay.trade_no, order, now, "query")
        raise MallRefused("the member has paid meanwhile: cancel the paid gift instead", field="status",
                          code="mall_paid_meanwhile")  # fmt: skip


def refund_cash(redemption: Redemption) -> None:
    """A cancelled gift whose cash part was paid gets it back, in full, under the redemption's
    one out_refund_no: after the cancel commits, and again on a retry (WeChat Pay answers the
    same refund). A failure is 503: the retry of the cancel completes it."""
    pay = redemption.pay
    if redemption.status != RedemptionStatus.CANCELLED or pay is None or pay.transaction_id is None:
        return
    pay_orders.refund(refund_no(redemption.redemption_id), pay.trade_no, pay.cash_fen, pay.cash_fen, REFUND_REASON)


def follow_up(redemption_id: str, now: datetime) -> str:
    """The settle job, for one unpaid redemption: paid at WeChat Pay → settled; its deadline past
    and unpaid → closed there and cancelled here (everything back); else waiting."""
    from chalicelib.services import mall_cancel

    found = mall_redemptions_repo.find(redemption_id)
    redemption = found[0] if found else None
    if redemption is None or redemption.pay is None or redemption.status != RedemptionStatus.AWAITING_PAYMENT:
        return ALREADY
    pay = redemption.pay
    order = pay_orders.query(pay.trade_no) if pay.prepay_id else None
    if order is not None and pay_orders.paid(order):
        return settle_paid(pay.trade_no, order, now, "query")
    if now < datetime.fromisoformat(pay.expires_at):
        return WAITING
    try:
        mall_cancel.cancel(redemption, EXPIRED, None, now)
    except MallRefused as refused:
        if refused.code == "mall_paid_meanwhile":  # settled by the close's second query
            return PAID
        raise
    return CANCELLED


def _paid_after_cancel(found: Redemption, transaction_id: str) -> str:
    """The member paid a redemption cancelled meanwhile (its deadline passed as the payment went
    through, or it was paid and cancelled already): the money goes back in full, under the
    redemption's one out_refund_no, so every copy of the notification refunds it once; a
    failure is raised, and WeChat Pay's resend tries again."""
    pay = found.pay
    if pay is None:
        return ALREADY
    logger.warning("payment for a cancelled redemption: refunded", extra={"redemption_id": found.redemption_id,
                   "transaction_id": transaction_id})  # fmt: skip
    pay_orders.refund(refund_no(found.redemption_id), pay.trade_no, pay.cash_fen, pay.cash_fen, REFUND_REASON)
    return REFUNDED


def _by_trade_no(trade_no_: str) -> Redemption:
    rid = redemption_of_trade(trade_no_)
    found = mall_redemptions_repo.find(rid) if rid else None
    if found is None or found[0].pay is None:
        raise MallNotFound("no redemption has this out_trade_no", field="out_trade_no")
    return found[0]
