"""Subscribe-message consents reported by the mini-program (`/v1/me/subscriptions`)."""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.auth import MEMBER
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now
from chalicelib.services import subscriptions

bp = Blueprint(__name__)
n = lazy_module("chalicelib.api.schemas_notify")


@route(
    bp,
    "/v1/me/subscriptions",
    "POST",
    auth_kind=MEMBER,
    tag="member",
    summary="Report wx.requestSubscribeMessage results (each accept allows one message)",
    body="SubscriptionsIn",
    response="SubscriptionsOut",
    idempotency_key="required",
    errors=(400, 401, 409, 503),
)
def report_choices(call: Call) -> object:
    assert call.idempotency_key is not None
    counts = subscriptions.record_choices(call.caller, call.body.results, call.idempotency_key, utc_now())
    return n.SubscriptionsOut(consents=counts)


@route(
    bp,
    "/v1/me/subscriptions",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    summary="Messages the member still allows, per template",
    response="SubscriptionsOut",
    errors=(401, 503),
)
def list_choices(call: Call) -> object:
    return n.SubscriptionsOut(consents=subscriptions.current(call.caller))
