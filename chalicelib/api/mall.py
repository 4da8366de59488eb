"""The points mall (积分商城) routes: the mall and a member's redemptions (`/v1/mall`,
`/v1/me/mall`); the admin area's (`/admin/mall`) are api/mall_admin.py, on this blueprint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import MEMBER
from chalicelib.api.mall_views import offer_out, redemption_out
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now

if TYPE_CHECKING:
    from chalicelib.api import schemas_mall as s
else:
    s = lazy_module("chalicelib.api.schemas_mall")

bp = Blueprint(__name__)
MINE = "/v1/me/mall/redemptions/{redemption_id}"


@route(
    bp,
    "/v1/mall/rewards",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    response="MallOfferListOut",
    summary="The rewards on show, with what I may redeem and, if not, why (refusal)",
    errors=(401, 404, 503),
)
def offers(call: Call) -> s.MallOfferListOut:
    from chalicelib.services import mall, programme

    minimum = programme.current().points.min_redeem_points
    return s.MallOfferListOut(items=[offer_out(offer, minimum) for offer in mall.offers(call.caller, utc_now())])


@route(
    bp,
    "/v1/mall/redemptions",
    "POST",
    auth_kind=MEMBER,
    tag="member",
    body="MallRedemptionIn",
    response="MallRedemptionOut",
    status=201,
    idempotency_key="required",
    summary="Redeem a reward (积分兑换), once per Idempotency-Key: points (earliest expiry first) and stock in one "
    "transaction; a physical gift needs an address; a cash part (积分+现金, physical gifts only) answers "
    "awaiting_payment with `payment` for wx.requestPayment (503: retry with the same key to place the order)",
    errors=(400, 401, 403, 404, 409, 503),
)
def redeem(call: Call) -> s.MallRedemptionOut:
    from chalicelib.services import mall

    body: s.MallRedemptionIn = call.body
    given = body.address
    address = mall.address_of(given.name, given.phone, given.region, given.detail) if given else None
    wanted = mall.Wanted(body.reward_id, body.quantity, address)
    redemption = mall.redeem(call.caller, wanted, str(call.idempotency_key), utc_now())
    return redemption_out(redemption, for_member=True)


@route(
    bp,
    "/v1/me/mall/redemptions",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    query="MallRedemptionListQuery",
    response="MallRedemptionListOut",
    summary="My redemptions, newest first",
    errors=(400, 401, 404, 503),
)
def my_redemptions(call: Call) -> s.MallRedemptionListOut:
    from chalicelib.services import mall

    found = mall.my_redemptions(call.caller, call.query.limit)
    return s.MallRedemptionListOut(items=[redemption_out(r, for_member=True) for r in found])


@route(
    bp,
    MINE,
    "GET",
    auth_kind=MEMBER,
    tag="member",
    response="MallRedemptionOut",
    summary="One of my redemptions",
    errors=(400, 401, 404, 503),
)
def my_redemption(call: Call) -> s.MallRedemptionOut:
    from chalicelib.services import mall

    return redemption_out(mall.my_redemption(call.caller, call.path["redemption_id"]), for_member=True)


@route(
    bp,
    MINE + "/cancel",
    "POST",
    auth_kind=MEMBER,
    tag="member",
    body="MallMemberCancelIn",
    body_optional=True,
    response="MallRedemptionOut",
    summary="Cancel my physical gift before it ships (取消兑换): the points go back into their lots, once; an "
    "unpaid cash part's order is closed (409 if paid meanwhile), a paid one is refunded through WeChat Pay",
    errors=(400, 401, 404, 409, 503),
)
def cancel_mine(call: Call) -> s.MallRedemptionOut:
    from chalicelib.services import mall

    redemption = mall.cancel_mine(call.caller, call.path["redemption_id"], call.body.reason, utc_now())
    return redemption_out(redemption, for_member=True)


# The admin routes declare themselves on `bp` (app.py registers this one blueprint).
from chalicelib.api import mall_admin  # noqa: E402, F401
