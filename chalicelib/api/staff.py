"""Staff API for the WeChat Work sidebar (企业微信侧边栏): staff log in with a WeChat Work OAuth
code, look up the customer they are chatting with and redeem (核销) the coupons members show at
the counter. The POS's coupon routes outside checkout (signed like its orders) live here too:
both are the counter's redemption."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chalice.app import Blueprint, Response

from chalicelib.api import redemption_views as views
from chalicelib.api.auth import POS, PUBLIC, STAFF
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now
from chalicelib.domain.coupon_use import CouponAlreadyUsed
from chalicelib.domain.errors import InvalidInput
from chalicelib.services import staff
from chalicelib.services.tiers import tier_name

if TYPE_CHECKING:
    from chalicelib.api import schemas_channels as c
else:
    c = lazy_module("chalicelib.api.schemas_channels")

bp = Blueprint(__name__)

_EXTERNAL_USERID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@route(
    bp,
    "/v1/staff/login",
    "POST",
    auth_kind=PUBLIC,
    tag="staff",
    summary="Staff log in with a WeChat Work OAuth code",
    body="StaffLoginIn",
    response="StaffLoginOut",
    errors=(400, 403, 503),
)
def staff_login(call: Call) -> c.StaffLoginOut:
    result = staff.login(call.body.code, utc_now())
    return c.StaffLoginOut(token=result.token, userid=result.userid, expires_in=result.expires_in)


@route(
    bp,
    "/v1/staff/customers/{external_userid}",
    "GET",
    auth_kind=STAFF,
    tag="staff",
    summary="A customer's tier, points, coupons and masked phone, by WeChat Work external_userid",
    query="StaffCustomerQuery",
    response="StaffCustomerOut",
    errors=(400, 401, 404),
)
def staff_customer(call: Call) -> c.StaffCustomerOut:
    external_userid = call.path["external_userid"]
    if not _EXTERNAL_USERID.match(external_userid):
        raise InvalidInput("external_userid must be 1-64 of A-Z a-z 0-9 _ -", field="external_userid")
    view = staff.customer_view(call.caller, external_userid, utc_now(), call.query.store_id)
    member, upcoming = view.member, view.next_expiry
    return c.StaffCustomerOut(
        member_id=member.member_id,
        tier_code=member.tier_code,
        tier_name=tier_name(member.tier_code),
        balance=member.balance,
        next_expiry=c.StaffExpiryOut(points=upcoming.remaining, expires_on=upcoming.expires_on) if upcoming else None,
        phone_masked=member.phone_masked,
        coupons=[views.staff_coupon_out(coupon) for coupon in view.coupons],
    )


@route(
    bp,
    "/v1/staff/coupons/redemptions",
    "POST",
    auth_kind=STAFF,
    tag="staff",
    summary="Redeem (核销) a coupon a member shows (QR payload) or tells (code) at a store, once: "
    "409 coupon_already_used names who used it, when and where; an Idempotency-Key replays this redemption",
    body="StaffRedemptionIn",
    response="CouponRedemptionOut",
    idempotency_key="optional",
    errors=(400, 401, 404, 409, 503),
)
def staff_redeem(call: Call) -> c.CouponRedemptionOut | Response:
    from chalicelib.services import coupon_redemption

    body: c.StaffRedemptionIn = call.body
    try:
        done = coupon_redemption.redeem_in_store(
            body.presented, body.store_id, call.caller, call.idempotency_key, utc_now()
        )
    except CouponAlreadyUsed as used:
        return views.already_used(used)
    return views.redemption_out(done)


@route(
    bp,
    "/v1/pos/coupons/redemptions",
    "POST",
    auth_kind=POS,
    tag="pos",
    summary="Redeem (核销) a coupon for an order outside checkout, once (idempotent on order_id); "
    "409 coupon_already_used names who used it, when and where",
    body="PosCouponRedemptionIn",
    response="PosCouponRedemptionOut",
    errors=(400, 401, 404, 409, 503),
)
def pos_redeem(call: Call) -> c.PosCouponRedemptionOut | Response:
    from chalicelib.services import coupon_redemption

    body: c.PosCouponRedemptionIn = call.body
    try:
        done = coupon_redemption.redeem_at_pos(body.presented, body.store_id, body.order_id, call.caller, utc_now())
    except CouponAlreadyUsed as used:
        return views.already_used(used)
    return views.pos_redemption_out(done)


@route(
    bp,
    "/v1/pos/coupons/{code}/return",
    "POST",
    auth_kind=POS,
    tag="pos",
    summary="Give back (退券) a coupon this POS used on an order that was cancelled or refunded, once, "
    "as the return policy says (never, while_valid, always)",
    body="PosCouponReturnIn",
    response="PosCouponReturnOut",
    errors=(400, 401, 403, 404, 409, 503),
)
def pos_return(call: Call) -> c.PosCouponReturnOut:
    from chalicelib.services import coupon_redemption

    body: c.PosCouponReturnIn = call.body
    now = utc_now()
    result = coupon_redemption.return_at_pos(call.path["code"], body.order_id, call.caller, now)
    return views.return_out(result, body.order_id, now)
