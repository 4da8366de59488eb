"""Staff API for the WeChat Work sidebar (企业微信侧边栏): staff log in with a WeChat Work OAuth
code and look up the customer they are chatting with. Read-only: no route here writes."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import PUBLIC, STAFF
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now
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
    response="StaffCustomerOut",
    errors=(400, 401, 404),
)
def staff_customer(call: Call) -> c.StaffCustomerOut:
    external_userid = call.path["external_userid"]
    if not _EXTERNAL_USERID.match(external_userid):
        raise InvalidInput("external_userid must be 1-64 of A-Z a-z 0-9 _ -", field="external_userid")
    view = staff.customer_view(call.caller, external_userid, utc_now())
    member, upcoming = view.member, view.next_expiry
    return c.StaffCustomerOut(
        member_id=member.member_id,
        tier_code=member.tier_code,
        tier_name=tier_name(member.tier_code),
        balance=member.balance,
        next_expiry=c.StaffExpiryOut(points=upcoming.remaining, expires_on=upcoming.expires_on) if upcoming else None,
        phone_masked=member.phone_masked,
        coupons=[],
    )
