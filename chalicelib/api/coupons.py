"""Coupon routes (优惠券): templates in the admin area (`/admin/coupon-templates`), claims and
the member's coupons (`/v1/coupons`, `/v1/me/coupons`) with their QR payloads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import MEMBER, OPERATOR
from chalicelib.api.coupon_views import coupon_out, template_out, tier_names
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.api import schemas_coupons as s
else:
    s = lazy_module("chalicelib.api.schemas_coupons")

bp = Blueprint(__name__)
TEMPLATE = "/admin/coupon-templates/{template_id}"
MEMBER_ERRORS = (400, 401, 404, 503)


@route(
    bp,
    "/v1/coupons/{template_id}",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    response="CouponOfferOut",
    summary="A coupon on offer: its rules, whether it is sold out (已抢光) and whether I may claim it",
    errors=MEMBER_ERRORS,
)
def offer(call: Call) -> s.CouponOfferOut:
    from chalicelib.domain import coupon_text
    from chalicelib.services import coupon_templates

    found = coupon_templates.offer(call.path["template_id"], call.caller, utc_now())
    definition = found.template.definition
    return s.CouponOfferOut(
        template_id=found.template.template_id,
        name=definition.terms.name,
        headline=coupon_text.headline(definition.terms.benefit),
        rules=coupon_text.template_rules(definition, tier_names(), get_settings().timezone),
        sold_out=found.remaining == 0,
        claimed=found.claimed,
        claimable=found.refusal is None,
        refusal=found.refusal,
    )


@route(
    bp,
    "/v1/coupons/{template_id}/claims",
    "POST",
    auth_kind=MEMBER,
    tag="member",
    response="CouponOut",
    summary="Claim a coupon (领券), once per Idempotency-Key; 409 coupon_sold_out when none is left",
    status=201,
    idempotency_key="required",
    errors=(400, 401, 403, 404, 409, 503),
)
def claim(call: Call) -> s.CouponOut:
    from chalicelib.services import coupons

    assert call.idempotency_key is not None
    now = utc_now()
    return coupon_out(coupons.claim(call.path["template_id"], call.caller, call.idempotency_key, now), now)


@route(
    bp,
    "/v1/me/coupons",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    query="CouponListQuery",
    response="CouponListOut",
    summary="My coupons of one status (unused by default), with their rules",
    errors=MEMBER_ERRORS,
)
def my_coupons(call: Call) -> s.CouponListOut:
    from chalicelib.domain.coupons import CouponStatus
    from chalicelib.services import coupons

    now = utc_now()
    found = coupons.my_coupons(call.caller, CouponStatus(call.query.status), now, call.query.limit)
    return s.CouponListOut(items=[coupon_out(coupon, now) for coupon in found])


@route(
    bp,
    "/v1/me/coupons/{code}",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    response="CouponOut",
    summary="One of my coupons, by its code",
    errors=MEMBER_ERRORS,
)
def my_coupon(call: Call) -> s.CouponOut:
    from chalicelib.services import coupons

    return coupon_out(coupons.my_coupon(call.caller, call.path["code"]), utc_now())


@route(
    bp,
    "/v1/me/coupons/{code}/qr",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    response="CouponQrOut",
    summary="The QR payload to show at the counter: signed, valid briefly, fetch again after refresh_after_seconds",
    errors=(400, 401, 404, 409, 503),
)
def my_coupon_qr(call: Call) -> s.CouponQrOut:
    from chalicelib.services import coupons

    signed = coupons.qr(call.caller, call.path["code"], utc_now())
    return s.CouponQrOut(
        payload=signed.payload,
        expires_at=datetime.fromtimestamp(signed.expires_at, UTC),
        refresh_after_seconds=signed.refresh_after,
    )


@route(
    bp,
    "/admin/coupon-templates",
    "POST",
    auth_kind=OPERATOR,
    permission="coupons.write",
    tag="admin",
    body="CouponTemplateIn",
    response="CouponTemplateOut",
    status=201,
    idempotency_key="required",
    summary="Define a coupon template: kind, scope, channel, validity, claim window, stock, limits, tiers, stacking",
    errors=(400, 401, 409, 503),
)
def create_template(call: Call) -> s.CouponTemplateOut:
    from chalicelib.services import coupon_templates

    body: s.CouponTemplateIn = call.body
    assert call.idempotency_key is not None
    data = body.model_dump(mode="json", exclude={"stock_shards"})
    view = coupon_templates.create(call.caller, data, body.stock_shards, call.idempotency_key, utc_now())
    return template_out(view)


@route(
    bp,
    "/admin/coupon-templates",
    "GET",
    auth_kind=OPERATOR,
    permission="coupons.read",
    tag="admin",
    query="CouponTemplateListQuery",
    response="CouponTemplateListOut",
    summary="Coupon templates, newest first",
    errors=(400, 401, 503),
)
def list_templates(call: Call) -> s.CouponTemplateListOut:
    from chalicelib.domain import coupon_text
    from chalicelib.services import coupon_templates

    items = [
        s.CouponTemplateSummaryOut(
            template_id=t.template_id,
            version=t.version,
            status=t.status.value,
            name=t.definition.terms.name,
            headline=coupon_text.headline(t.definition.terms.benefit),
            stock=t.definition.stock,
            created_at=t.created_at,
        )
        for t in coupon_templates.listing(call.query.limit)
    ]
    return s.CouponTemplateListOut(items=items)


@route(
    bp,
    TEMPLATE,
    "GET",
    auth_kind=OPERATOR,
    permission="coupons.read",
    tag="admin",
    response="CouponTemplateOut",
    summary="A coupon template with its stock: claimed and remaining",
    errors=(401, 404, 503),
)
def show_template(call: Call) -> s.CouponTemplateOut:
    from chalicelib.services import coupon_templates

    return template_out(coupon_templates.view(call.path["template_id"]))


@route(
    bp,
    TEMPLATE,
    "PUT",
    auth_kind=OPERATOR,
    permission="coupons.write",
    tag="admin",
    body="CouponTemplateEditIn",
    response="CouponTemplateOut",
    summary="Edit a template from its `version` (409 if it moved); coupons already claimed keep their rules",
    errors=(400, 401, 404, 409, 503),
)
def edit_template(call: Call) -> s.CouponTemplateOut:
    from chalicelib.services import coupon_templates

    body: s.CouponTemplateEditIn = call.body
    data = body.model_dump(mode="json", exclude={"version"})
    view = coupon_templates.edit(call.path["template_id"], data, body.version, call.caller, utc_now())
    return template_out(view)


@route(
    bp,
    TEMPLATE + "/pause",
    "POST",
    auth_kind=OPERATOR,
    permission="coupons.write",
    tag="admin",
    response="CouponTemplateOut",
    summary="Pause claims and grants (暂停); coupons held stay usable",
    errors=(401, 404, 503),
)
def pause_template(call: Call) -> s.CouponTemplateOut:
    return _set_status(call, "paused")


@route(
    bp,
    TEMPLATE + "/resume",
    "POST",
    auth_kind=OPERATOR,
    permission="coupons.write",
    tag="admin",
    response="CouponTemplateOut",
    summary="Resume a paused template",
    errors=(401, 404, 503),
)
def resume_template(call: Call) -> s.CouponTemplateOut:
    return _set_status(call, "active")


@route(
    bp,
    TEMPLATE + "/grants",
    "POST",
    auth_kind=OPERATOR,
    permission="coupons.write",
    tag="admin",
    body="CouponGrantIn",
    response="CouponOut",
    status=201,
    idempotency_key="required",
    summary="Give one member a coupon (发券), once per Idempotency-Key: stock, limits and a pause hold",
    errors=(400, 401, 404, 409, 503),
)
def grant(call: Call) -> s.CouponOut:
    from chalicelib.domain import keys
    from chalicelib.services import coupons

    assert call.idempotency_key is not None
    now = utc_now()
    key = keys.key("operator", call.caller, call.idempotency_key)
    coupon = coupons.grant(call.path["template_id"], call.body.member_id, key, now, source=f"operator:{call.caller}")
    return coupon_out(coupon, now)


def _set_status(call: Call, status: str) -> s.CouponTemplateOut:
    from chalicelib.domain.coupons import TemplateStatus
    from chalicelib.services import coupon_templates

    view = coupon_templates.set_status(call.path["template_id"], TemplateStatus(status), call.caller, utc_now())
    return template_out(view)
