"""Operator campaigns (`/admin/campaigns`): member day pushes and other scheduled sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint

from chalicelib.api.auth import OPERATOR
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import iso, utc_now
from chalicelib.domain.campaigns import COUPON_COUNTS
from chalicelib.services import campaigns

if TYPE_CHECKING:
    from chalicelib.domain.campaigns import Campaign

bp = Blueprint(__name__)
OUTCOME_COUNTS = ("queued", "sent", "failed", "skipped")
n = lazy_module("chalicelib.api.schemas_notify")


def _out(campaign: Campaign) -> Any:
    return n.CampaignOut(
        campaign_id=campaign.campaign_id,
        name=campaign.name,
        template=campaign.template,
        audience=campaign.audience,
        status=campaigns.status(campaign),
        send_at=campaign.send_at,
        created_by=campaign.created_by,
        created_at=campaign.created_at,
        coupon_template_id=campaign.coupon_template_id,
        **{name: campaign.counts.get(name, 0) for name in (*OUTCOME_COUNTS, *COUPON_COUNTS)},
    )


@route(
    bp,
    "/admin/campaigns",
    "POST",
    auth_kind=OPERATOR,
    permission="campaigns.write",
    tag="admin",
    summary="Define a campaign: audience, template, send time",
    body="CampaignIn",
    response="CampaignOut",
    status=201,
    idempotency_key="required",
    errors=(400, 401, 409, 503),
)
def create(call: Call) -> Any:
    body = call.body
    request = {
        "name": body.name,
        "template": body.template,
        "audience": body.audience.model_dump(exclude_none=True),
        "send_at": iso(body.send_at),
    }
    if body.coupon_template_id is not None:  # absent, the request (and its fingerprint) is as before
        request["coupon_template_id"] = body.coupon_template_id
    assert call.idempotency_key is not None
    return _out(campaigns.create(call.caller, request, call.idempotency_key, utc_now()))


@route(
    bp,
    "/admin/campaigns/{campaign_id}",
    "GET",
    auth_kind=OPERATOR,
    permission="campaigns.read",
    tag="admin",
    summary="A campaign's status and counts (queued, sent, failed, skipped)",
    response="CampaignOut",
    errors=(401, 404, 503),
)
def show(call: Call) -> Any:
    return _out(campaigns.get(call.path["campaign_id"]))


@route(
    bp,
    "/admin/campaigns/{campaign_id}/cancel",
    "POST",
    auth_kind=OPERATOR,
    permission="campaigns.write",
    tag="admin",
    summary="Cancel a campaign: stop queueing, skip the messages not yet delivered",
    response="CampaignOut",
    errors=(401, 404, 503),
)
def cancel(call: Call) -> Any:
    return _out(campaigns.cancel(call.path["campaign_id"]))
