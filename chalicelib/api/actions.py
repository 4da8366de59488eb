"""Member actions reported by the brand's server (行为积分): signed like POS requests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import POS
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now

if TYPE_CHECKING:
    from chalicelib.api import schemas_actions as s
else:
    s = lazy_module("chalicelib.api.schemas_actions")

bp = Blueprint(__name__)


@route(
    bp,
    "/v1/actions",
    "POST",
    auth_kind=POS,
    tag="pos",
    summary="Report a member action; points by the programme's action rules (idempotent on action_id)",
    body="ActionIn",
    response="ActionOut",
    status=201,
    errors=(400, 401, 404, 409, 503),
)
def report_action(call: Call) -> s.ActionOut:
    from chalicelib.services import actions, orders

    body: s.ActionIn = call.body
    ref = orders.MemberRef(**body.member.model_dump())
    result = actions.record_action(body.action_id, ref, body.action, body.at, utc_now(), pos_client=call.caller)
    return s.ActionOut(
        action_id=result.action_id, member_id=result.member_id, points=result.points, balance=result.balance
    )
