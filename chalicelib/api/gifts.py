"""Points gift routes (积分转赠): a member gives points to another member by member code."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import MEMBER
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now

if TYPE_CHECKING:
    from chalicelib.api import schemas_gifts as s
else:
    s = lazy_module("chalicelib.api.schemas_gifts")

bp = Blueprint(__name__)


@route(
    bp,
    "/v1/me/gifts",
    "POST",
    auth_kind=MEMBER,
    tag="member",
    summary="Give points to another member by member code (needs an Idempotency-Key header); "
    "the points keep their expiry dates",
    body="GiftIn",
    response="GiftOut",
    status=201,
    idempotency_key="required",
    errors=(400, 401, 403, 404, 409, 503),
)
def give(call: Call) -> s.GiftOut:
    from chalicelib.services import gifts

    body: s.GiftIn = call.body
    result = gifts.give(call.caller, body.to_code, body.points, body.message, str(call.idempotency_key), utc_now())
    return s.GiftOut(
        gift_id=result.gift_id,
        points=result.points,
        balance=result.balance,
        to=s.GiftPartyOut(code=result.to_code, nickname=result.to_nickname),
        lots=[s.GiftLotOut(expires_on=lot.expires_on, points=lot.points) for lot in result.lots],
    )
