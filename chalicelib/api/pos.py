"""POS / mall server API: paid orders earn points, refunds reverse them. Signed requests."""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.auth import POS
from chalicelib.api.lazy_schemas import schemas as s
from chalicelib.api.routing import Call, route
from chalicelib.clock import utc_now
from chalicelib.domain.earning import OrderLine
from chalicelib.services import orders

bp = Blueprint(__name__)


@route(
    bp,
    "/v1/orders",
    "POST",
    auth_kind=POS,
    tag="pos",
    summary="Report a paid order (idempotent on order_id)",
    body="OrderIn",
    response="OrderOut",
    errors=(400, 401, 404, 409, 503),
)
def report_order(call: Call) -> s.OrderOut:
    body: s.OrderIn = call.body
    ref = orders.MemberRef(**body.member.model_dump())
    lines = tuple(OrderLine(**line.model_dump()) for line in body.lines or ())
    result = orders.record_order(
        body.order_id, ref, body.amount_fen, body.paid_at, body.store_id, utc_now(), pos_client=call.caller, lines=lines
    )
    return s.OrderOut(
        order_id=result.order_id,
        member_id=result.member_id,
        points_earned=result.points_earned,
        balance=result.balance,
        points_pending=result.points_pending,
        release_on=result.release_on,
    )


@route(
    bp,
    "/v1/orders/{order_id}/refund",
    "POST",
    auth_kind=POS,
    tag="pos",
    summary="Refund an order in full, in part or by lines; points are clawed back, a checked-out order's wallet, "
    "points and coupons given back per line (idempotent on refund_id)",
    body="RefundIn",
    response="RefundOut",
    errors=(400, 401, 403, 404, 409, 503),
)
def refund_order(call: Call) -> s.RefundOut:
    body: s.RefundIn = call.body
    lines = None if body.lines is None else {line.line_id: line.amount_fen for line in body.lines}
    result = orders.refund_order(
        call.path["order_id"], body.refund_id, body.amount_fen, utc_now(), call.caller, lines=lines
    )
    return s.RefundOut(
        order_id=result.order_id,
        refund_id=result.refund_id,
        refund_fen=result.refund_fen,
        points_reversed=result.points_reversed,
        balance=result.balance,
        cash_fen=result.cash_fen,
        wechat_pay_fen=result.wechat_pay_fen,
        wallet_fen=result.wallet_fen,
        points_returned=result.points_returned,
        coupons_returned=list(result.coupons_returned),
    )
