"""The privacy routes (个人信息保护法, issue 13): a member's consents, export and account
closing, and the same on their request by an operator. Every one of them is audited: the
member's own routes as the member (role `member`), the operator's export as an audited read."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import MEMBER, OPERATOR
from chalicelib.api.routing import Call, lazy_module, request_id, route
from chalicelib.clock import utc_now
from chalicelib.services import privacy, privacy_deletion, privacy_export

if TYPE_CHECKING:
    from chalicelib.api import schemas_privacy as s
else:
    s = lazy_module("chalicelib.api.schemas_privacy")

bp = Blueprint(__name__)
ADMIN_EXPORT = "/admin/members/{member_id}/export"


@route(
    bp,
    "/v1/me/consents",
    "GET",
    auth_kind=MEMBER,
    tag="privacy",
    summary="My consents: marketing, and subscribe messages per template",
    response="ConsentsOut",
    errors=(401, 404, 503),
)
def get_consents(call: Call) -> s.ConsentsOut:
    return _consents_out(privacy.consents(call.caller))


@route(
    bp,
    "/v1/me/consents",
    "PATCH",
    auth_kind=MEMBER,
    tag="privacy",
    summary="Withdraw (false) or grant (true) marketing; effective at once",
    body="ConsentsPatch",
    response="ConsentsOut",
    audited=True,
    errors=(400, 401, 404, 503),
)
def patch_consents(call: Call) -> s.ConsentsOut:
    body: s.ConsentsPatch = call.body
    return _consents_out(privacy.set_marketing(call.caller, body.marketing, utc_now()))


@route(
    bp,
    "/v1/me/export",
    "GET",
    auth_kind=MEMBER,
    tag="privacy",
    summary="Everything held about me, as JSON (the phone in full)",
    response="ExportOut",
    audited=True,
    errors=(401, 404, 503),
)
def export_mine(call: Call) -> s.ExportOut:
    return s.ExportOut.model_validate(privacy_export.export(call.caller, utc_now()))


@route(
    bp,
    "/v1/me/deletion",
    "POST",
    auth_kind=MEMBER,
    tag="privacy",
    summary="Close my account: personal data erased, points forfeited; my tokens stop working",
    response="DeletionOut",
    audited=True,
    errors=(401, 404, 409, 503),
)
def delete_mine(call: Call) -> s.DeletionOut:
    return _deletion_out(privacy_deletion.delete_member(call.caller, f"member:{call.caller}", utc_now()))


@route(
    bp,
    ADMIN_EXPORT,
    "GET",
    auth_kind=OPERATOR,
    permission="privacy.run",
    tag="admin",
    summary="Export a member's data on their request (an audited read)",
    response="ExportOut",
    errors=(401, 404, 503),
)
def export_member(call: Call) -> s.ExportOut:
    now = utc_now()
    request_key = request_id(bp).get("request_id") or uuid.uuid4().hex
    entry = privacy.read_entry(call.caller, call.role, f"GET {ADMIN_EXPORT}", request_key, now)
    return s.ExportOut.model_validate(privacy_export.export(call.path["member_id"], now, entry))


@route(
    bp,
    "/admin/members/{member_id}/deletion",
    "POST",
    auth_kind=OPERATOR,
    permission="privacy.run",
    tag="admin",
    summary="Close a member's account on their request (personal data erased, ledger kept anonymised)",
    body="DeletionIn",
    response="DeletionOut",
    errors=(400, 401, 404, 409, 503),
)
def delete_member(call: Call) -> s.DeletionOut:
    body: s.DeletionIn = call.body
    result = privacy_deletion.delete_member(call.path["member_id"], call.caller, utc_now(), reason=body.reason)
    return _deletion_out(result)


def _consents_out(found: privacy.Consents) -> s.ConsentsOut:
    return s.ConsentsOut(
        marketing=s.MarketingConsentOut(granted=found.marketing, changed_at=found.marketing_changed_at),
        subscribe_messages=found.subscribe_messages,
    )


def _deletion_out(result: privacy_deletion.DeletionResult) -> s.DeletionOut:
    return s.DeletionOut(
        member_id=result.member_id,
        status="deleted",
        deleted_at=result.deleted_at,
        released=s.DeletionCountsOut(**result.counts),
    )
