"""Checkout for POS and mall servers (收银结算): quote, confirm, cancel. Signed requests (`pos`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.auth import POS
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now

if TYPE_CHECKING:
    from chalicelib.api import schemas_checkout as s
    from chalicelib.api import schemas_wallet as w
    from chalicelib.domain.checkout import Checkout, CouponPlan, LinePlan
    from chalicelib.services.checkout import Basket
else:
    s = lazy_module("chalicelib.api.schemas_checkout")
    w = lazy_module("chalicelib.api.schemas_wallet")

bp = Blueprint(__name__)


@route(
    bp,
    "/v1/checkout/quote",
    "POST",
    auth_kind=POS,
    tag="pos",
    summary="Quote an order: the tier discount, the best or chosen coupons, the points and wallet allowed, "
    "the cash rest, line by line (writes nothing)",
    body="CheckoutIn",
    response="QuoteOut",
    errors=(400, 401, 404, 409, 503),
)
def quote(call: Call) -> s.QuoteOut:
    from chalicelib.services import checkout

    body: s.CheckoutIn = call.body
    found = checkout.quote(_basket(body), call.caller, utc_now())
    plan = found.plan
    return s.QuoteOut(
        order_id=body.order_id,
        member_id=found.member_id,
        totals=_totals(plan.lines),
        lines=[_line(line) for line in plan.lines],
        coupons=[_coupon(coupon) for coupon in plan.coupons],
        points_balance=found.points_balance,
        points_max=plan.points_max,
        points_step=found.points_step,
        wallet_balance_fen=found.wallet_balance_fen,
        wallet_usable_fen=plan.wallet_usable_fen,
    )


@route(
    bp,
    "/v1/checkout/confirm",
    "POST",
    auth_kind=POS,
    tag="pos",
    summary="Confirm a checkout: coupons, points and wallet taken with the order in one transaction "
    "(idempotent on order_id); with pay_with=wechat_pay held until paid",
    body="CheckoutConfirmIn",
    response="CheckoutOut",
    status=201,
    errors=(400, 401, 403, 404, 409, 503),
)
def confirm(call: Call) -> s.CheckoutOut:
    from chalicelib.services import checkout

    body: s.CheckoutConfirmIn = call.body
    return _out(checkout.confirm(_basket(body), body.expected_cash_fen, call.caller, utc_now()))


@route(
    bp,
    "/v1/checkout/{order_id}",
    "GET",
    auth_kind=POS,
    tag="pos",
    summary="A checkout of this POS client, as it stands",
    response="CheckoutOut",
    errors=(401, 403, 404, 503),
)
def get_checkout(call: Call) -> s.CheckoutOut:
    from chalicelib.services import checkout

    return _out(checkout.get(call.path["order_id"], call.caller))


@route(
    bp,
    "/v1/checkout/{order_id}/cancel",
    "POST",
    auth_kind=POS,
    tag="pos",
    summary="Cancel a checkout not yet paid: exactly what it took goes back, once",
    body="CheckoutCancelIn",
    body_optional=True,
    response="CheckoutOut",
    errors=(400, 401, 403, 404, 409, 503),
)
def cancel(call: Call) -> s.CheckoutOut:
    from chalicelib.services import checkout_cancel

    return _out(checkout_cancel.cancel(call.path["order_id"], call.caller, utc_now()))


def _basket(body: s.CheckoutIn) -> Basket:
    from chalicelib.domain.checkout import Ask, CheckoutLine, PayWith
    from chalicelib.domain.coupons import Channel
    from chalicelib.services.checkout import Basket
    from chalicelib.services.orders import MemberRef

    lines = tuple(CheckoutLine(line.line_id, line.sku, line.amount_fen, line.category) for line in body.lines)
    codes = None if body.coupon_codes is None else tuple(body.coupon_codes)
    ask = Ask(lines, body.amount_fen, codes, body.points, body.wallet_fen)
    ref = MemberRef(**body.member.model_dump())
    return Basket(body.order_id, ref, body.store_id, Channel(body.channel), ask, PayWith(body.pay_with))


def _out(found: Checkout) -> s.CheckoutOut:
    from chalicelib.services import checkout_pay

    payment = checkout_pay.payment_params(found) if found.status == "held" else None
    return s.CheckoutOut(
        order_id=found.order_id,
        member_id=found.member_id,
        status=found.status.value,
        totals=_totals(found.lines),
        lines=[_line(line) for line in found.lines],
        coupons=[_coupon(coupon) for coupon in found.coupons],
        wallet_principal_fen=found.wallet_principal,
        wallet_bonus_fen=found.wallet_bonus,
        created_at=found.created_at,
        expires_at=found.expires_at,
        payment=w.PaymentOut(**payment) if payment else None,  # type: ignore[arg-type]
    )


def _totals(lines: tuple[LinePlan, ...]) -> s.CheckoutTotalsOut:
    return s.CheckoutTotalsOut(**{name: sum(part[name] for part in map(_parts, lines)) for name in _PARTS})


def _line(line: LinePlan) -> s.CheckoutLineOut:
    return s.CheckoutLineOut(line_id=line.line_id, refunded_fen=line.refunded_fen, **_parts(line))


_PARTS = ("amount_fen", "tier_discount_fen", "coupon_fen", "points", "points_fen", "wallet_fen", "cash_fen")


def _parts(line: LinePlan) -> dict[str, int]:
    """A line's parts by their names in the API (the tier's is `tier_discount_fen`)."""
    named = {"tier_discount_fen": line.tier_fen}
    return {name: named.get(name, getattr(line, name, 0)) for name in _PARTS}


def _coupon(coupon: CouponPlan) -> s.CheckoutCouponOut:
    return s.CheckoutCouponOut(
        coupon_id=coupon.coupon_id,
        code=coupon.code,
        name=coupon.name,
        discount_fen=coupon.discount_fen,
        lines=list(coupon.lines),
    )


__all__: list[Any] = ["bp"]
