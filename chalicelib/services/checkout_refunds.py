"""Refunds of a checked-out order (`POST /v1/orders/{order_id}/refund` when the order has a
checkout): each refunded line gives back its parts in proportion to the share of the line
refunded (domain/checkout.py `refund_line`, on the line's cumulative refunds), as they were
allocated at confirm: the wallet part to the purses it came from (principal and bonus in the
proportion taken), the points part into the lots it came from, and a coupon once every line it
applied to is refunded in whole (by the return policy). The points the cash part earned (when
the order was reported) are clawed back by the order's own line rule, held points first.

All of it is ONE transaction of the points engine (entry `checkout-refund:<order>:<refund>`,
kind `checkout_refund`: the points given back less those clawed back), joined by the wallet's
return, the coupons' return, the order entry's refund tallies and the checkout's, each guarded
by what was read. Amounts name the lines' prices (`amount_fen` of the checkout's lines); the
answer says the cash part the POS pays back itself.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.checkout import (
    Checkout,
    CheckoutRefused,
    CheckoutStatus,
    LineRefund,
    PayWith,
    coupons_back,
    refund_lines,
    return_points,
    spread_refund,
)
from chalicelib.domain.coupon_use import not_returned_because
from chalicelib.domain.coupons import Coupon, CouponStatus
from chalicelib.domain.errors import Forbidden, InvalidInput
from chalicelib.domain.ledger import EntryNote, PendingMove, PointsChange, RefundMark
from chalicelib.domain.mall_redemptions import TakenLot, plan_refund
from chalicelib.domain.members import Member
from chalicelib.domain.points import PointsLot, clawback_for_refund, plan_clawback
from chalicelib.domain.wallet import Split
from chalicelib.services import coupon_redemption, pay_refund_task, points
from chalicelib.store import checkout_repo, coupons_repo, pending_repo, points_repo, wallet_repo

if TYPE_CHECKING:
    from chalicelib.services.orders import RefundResult


def refund(
    checkout: Checkout,
    refund_key: str,
    amount_fen: int | None,
    lines: dict[str, int] | None,
    now: datetime,
    pos_client: str,
) -> RefundResult:
    from chalicelib.services.orders import RefundResult

    if checkout.pos_client != pos_client:
        raise Forbidden("the order was checked out by another POS client", field="order_id")
    if checkout.status not in (CheckoutStatus.COMPLETED, CheckoutStatus.PAID):
        raise CheckoutRefused(f"the checkout is {checkout.status}: cancel it instead", field="order_id",
                              code="checkout_not_paid")  # fmt: skip
    request: dict[str, Any] = {"order_id": checkout.order_id, "refund_id": refund_key, "amount_fen": amount_fen}
    if lines is not None:
        request["lines"] = dict(sorted(lines.items()))
    op = points.operation(keys.key("checkout-refund", checkout.order_id, refund_key), request, now,
                          key_field="refund_id")  # fmt: skip
    entry = points.apply(checkout.member_id, op, _planner(checkout.order_id, refund_key, amount_fen, lines, op),
                         reads_lots=True)  # fmt: skip
    detail = entry.detail
    by_wechat = int(detail.get("wechat_pay_refund_fen", 0))
    _refund_wechat_pay(checkout, refund_key, by_wechat)
    return RefundResult(
        checkout.order_id,
        refund_key,
        int(detail["refund_fen"]),
        int(detail["clawed"]) + int(detail.get("pending_cancelled", 0)),
        entry.balance_after,
        cash_fen=int(detail["cash_fen"]) - by_wechat,
        wechat_pay_fen=by_wechat,
        wallet_fen=int(detail["wallet_fen"]),
        points_returned=int(detail["points_returned"]),
        coupons_returned=tuple(detail.get("coupons_returned") or ()),
    )


def _planner(
    order_id: str, refund_key: str, amount_fen: int | None, lines: dict[str, int] | None, op: points.Operation
) -> points.Planner:
    def plan(member: Member, lots: list[PointsLot]) -> PointsChange | None:
        fresh = checkout_repo.get(order_id)
        if fresh is None or refund_key in fresh.refunds:
            return None  # made meanwhile: the engine answers with its entry
        wanted = lines if lines is not None else _whole_or(fresh, amount_fen)
        given = refund_lines(fresh.lines, wanted)
        refunded = {line.line_id: line.fen for line in given}
        after_lines = tuple(replace(line, refunded_fen=line.refunded_fen + refunded.get(line.line_id, 0))
                            for line in fresh.lines)  # fmt: skip
        points_back = sum(line.points for line in given)
        lots_after, per_lot = return_points(fresh.lots, points_back)
        split = _wallet_back(fresh, sum(line.wallet_fen for line in given))
        earned = _earned_back(member, order_id, given)
        offset = min(points_back, earned.clawed)
        taken = _less(per_lot, offset)
        back_plan = plan_refund(taken, op.today, member.debt)
        claw_rest = earned.clawed - offset
        takes, missing = plan_clawback(lots, claw_rest) if claw_rest else ([], 0)
        policy = coupon_redemption.return_policy()
        due = [c for c in coupons_back(fresh.coupons, after_lines) if c.coupon_id not in fresh.coupons_returned]
        found = [_coupon_of(member.member_id, fresh.member_id, c.coupon_id) for c in due]
        returned = [
            c for c in found
            if c is not None and (c.status, c.order_id) == (CouponStatus.USED, order_id)
            and not_returned_because(c, policy, op.now) is None
        ]  # fmt: skip
        detail: dict[str, Any] = {
            "order_id": order_id,
            "refund_id": refund_key,
            "refund_fen": sum(refunded.values()),
            "lines": refunded,
            "cash_fen": sum(line.cash_fen for line in given),
            "wallet_fen": split.total,
            "points_returned": points_back,
            "clawed": earned.clawed,
            "coupons_returned": [c.coupon_id for c in returned],  # by the return policy, as staged
        }
        if earned.pending is not None:
            detail["pending_cancelled"] = -earned.pending.points
        if fresh.pay_with == PayWith.WECHAT_PAY and fresh.trade_no and detail["cash_fen"]:
            detail["wechat_pay_refund_fen"] = detail["cash_fen"]  # ours to pay back, not the POS's
        change = points.change(
            op,
            member,
            kinds.CHECKOUT_REFUND,
            points_back - earned.clawed,
            new_debt=member.debt - back_plan.repaid + missing,
            lot_adds=back_plan.adds,
            lot_takes=takes,
            refund=earned.mark,
            growth_delta=-earned.growth,
            note=EntryNote(reason="refund", detail=detail),
            pending=earned.pending,
        )
        after = replace(
            fresh,
            lines=after_lines,
            lots=lots_after,
            wallet_returned_principal=fresh.wallet_returned_principal + split.principal,
            wallet_returned_bonus=fresh.wallet_returned_bonus + split.bonus,
            refunds=(*fresh.refunds, refund_key),
            coupons_returned=(*fresh.coupons_returned, *(c.coupon_id for c in returned)),
            version=fresh.version + 1,
        )
        wallet = wallet_repo.get_wallet(member.member_id) if split.total else None

        def stage(tx: Any) -> None:
            if wallet is not None:
                ref = f"order:{order_id}"
                wallet_repo.stage_return(tx, wallet, split, ref, iso(op.now), detail={"refund_id": refund_key})
            for coupon in returned:
                coupon_redemption.stage_return(tx, coupon, order_id, op.now, policy)
            checkout_repo.stage_update(tx, fresh, after)

        change.joins = (stage,)
        _require_fits(change, len(returned), wallet is not None)
        if "wechat_pay_refund_fen" in detail:
            owed = pay_refund_task.event(f"{op.entry_id}#pay-refund", member.member_id, iso(op.now),
                                         refund_no(order_id, refund_key), fresh.trade_no or "", detail["cash_fen"],
                                         fresh.cash_fen, REFUND_REASON)  # fmt: skip
            change.events = (*change.events, owed)
        return change

    return plan


REFUND_REASON = "订单退款"


def refund_no(order_id: str, refund_key: str) -> str:
    """`cr` + 24 hex: the out_refund_no of a refund's WeChat Pay part (WeChat Pay dedups on it)."""
    import hashlib

    return "cr" + hashlib.sha256(keys.key("checkout-refund", order_id, refund_key).encode()).hexdigest()[:24]


def _refund_wechat_pay(checkout: Checkout, refund_key: str, cash_fen: int) -> None:
    """A checkout whose cash part the member paid through WeChat Pay gets that part back the same
    way, under an out_refund_no from the refund. The refund's own transaction staged the task
    that guarantees it (services/pay_refund_task.py, retried by the queue until WeChat Pay takes
    it); this is the first try, at once, on every call (WeChat Pay answers a repeated out_refund_no with the
    same refund), and a failure here leaves it to the task."""
    if cash_fen < 1 or checkout.pay_with != PayWith.WECHAT_PAY or checkout.trade_no is None:
        return
    from chalicelib.domain.errors import WeChatUnavailable
    from chalicelib.observability import logger
    from chalicelib.services import pay_orders

    number = refund_no(checkout.order_id, refund_key)
    try:
        pay_orders.refund(number, checkout.trade_no, cash_fen, checkout.cash_fen, REFUND_REASON)
    except WeChatUnavailable:
        logger.warning("WeChat Pay refund of a checkout: left to its task", extra={"order_id": checkout.order_id})


def _require_fits(change: PointsChange, coupons: int, wallet: bool) -> None:
    """A refund touching more items than one transaction holds is refused, not half written:
    the POS refunds the lines in smaller steps."""
    from chalicelib.domain.ledger import TX_MAX_ITEMS

    items = 2 + len(change.lot_adds) + len(change.lot_takes) + len(change.events) + 2 * coupons + 3 * wallet
    items += 1 + (change.refund is not None) + (change.pending_move is not None) + 2  # checkout, marks, card, task
    if items > TX_MAX_ITEMS:
        raise CheckoutRefused("the refund touches too many lots at once: refund fewer lines", field="lines",
                              code="checkout_refund_too_large")  # fmt: skip


def _whole_or(checkout: Checkout, amount_fen: int | None) -> dict[str, int]:
    left = sum(line.amount_fen - line.refunded_fen for line in checkout.lines)
    if amount_fen is None and left == 0:
        raise CheckoutRefused("the order is refunded in whole", field="amount_fen", code="refund_exceeds_order")
    return spread_refund(checkout.lines, left if amount_fen is None else amount_fen)


def _wallet_back(checkout: Checkout, fen: int) -> Split:
    """The purses in the proportion they paid, on the cumulative rule: all of it back exactly."""
    before = checkout.wallet_returned_principal + checkout.wallet_returned_bonus
    if not fen:
        return Split(0, 0)
    principal = clawback_for_refund(checkout.wallet_principal, checkout.wallet_fen, before, fen)
    return Split(principal, fen - principal)


class _Earned:
    """What the cash part's refund takes back of the points the order earned (when reported)."""

    def __init__(self) -> None:
        self.clawed = 0
        self.growth = 0
        self.mark: RefundMark | None = None
        self.pending: PendingMove | None = None


def _earned_back(member: Member, order_id: str, given: list[LineRefund]) -> _Earned:
    from chalicelib.services.orders import _clawback

    earned = _Earned()
    order = points_repo.get_entry(keys.order_entry(order_id))
    cash = {line.line_id: line.cash_fen for line in given if line.cash_fen}
    if order is None or not cash:
        return earned
    before, amount = int(order.refunded_fen or 0), int(order.detail["amount_fen"])
    refund = sum(cash.values())
    if before + refund > amount:
        raise InvalidInput("the cash part is refunded already", field="lines")
    claw, order_detail, _ = _clawback(order.detail, before, refund, cash)
    earned.growth = clawback_for_refund(int(order.detail.get("growth", 0)), amount, before, refund)
    earned.mark = RefundMark(order.entry_id, before, before + refund, order_detail)
    held = pending_repo.get(order.entry_id) if member.pending else None
    cancelled = min(claw, held.remaining) if held else 0
    if held and cancelled:
        earned.pending = PendingMove(order.entry_id, held.member_id, -cancelled, held.remaining)
    earned.clawed = claw - cancelled
    return earned


def _less(per_lot: dict[str, int], offset: int) -> tuple[TakenLot, ...]:
    """The points back by lot, less `offset` (clawed back at once), from the soonest-ending lot:
    the member keeps the points that last longest."""
    lots = []
    for day in sorted(per_lot):
        keep = max(0, per_lot[day] - offset)
        offset -= per_lot[day] - keep
        if keep:
            lots.append(TakenLot(date.fromisoformat(day), keep))
    return tuple(lots)


def _coupon_of(member_id: str, original_id: str, coupon_id: str) -> Coupon | None:
    """The coupon where it is now: under the live member, or (its move after a merge still under
    way) under the member who checked out."""
    return coupons_repo.get(member_id, coupon_id) or coupons_repo.get(original_id, coupon_id)
