"""Bulk points grants (`/admin/grants`, 批量发放积分): one change of points for a list of members,
run as a job, with a second operator's approval above the adjustment limits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint, Response

from chalicelib.api.auth import OPERATOR
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now

if TYPE_CHECKING:
    from chalicelib.api import schemas_grants as s
    from chalicelib.domain.grants import BadLines, BulkGrant, UnknownMembers
else:
    s = lazy_module("chalicelib.api.schemas_grants")

bp = Blueprint(__name__)


@route(
    bp,
    "/admin/grants",
    "POST",
    auth_kind=OPERATOR,
    permission="points.adjust",
    tag="admin",
    summary="Grant or deduct points for a CSV list of members or an audience (runs as a job; "
    "pending a second operator above the adjustment limits)",
    body="GrantIn",
    response="GrantOut",
    status=202,
    idempotency_key="required",
    errors=(400, 401, 404, 409, 503),
)
def create(call: Call) -> s.GrantOut | Response:
    from chalicelib.domain.grants import BadLines, UnknownMembers
    from chalicelib.services import grants

    body: s.GrantIn = call.body
    request = grants.GrantRequest(
        points=body.points,
        reason=body.reason,
        members_csv=body.members_csv or None,
        audience=body.audience.model_dump(exclude_none=True) if body.audience is not None else None,
    )
    assert call.idempotency_key is not None
    try:
        grant = grants.create(call.caller, request, call.idempotency_key, utc_now())
    except (BadLines, UnknownMembers) as refused:
        return _lines_refused(refused)
    return out(grant)


@route(
    bp,
    "/admin/grants/{grant_id}",
    "GET",
    auth_kind=OPERATOR,
    permission="points.read",
    tag="admin",
    summary="A bulk grant's status and progress: total, done, failed with reasons",
    response="GrantOut",
    errors=(401, 404, 503),
)
def show(call: Call) -> s.GrantOut:
    from chalicelib.services import grants

    return out(grants.get(call.path["grant_id"]))


def out(grant: BulkGrant) -> s.GrantOut:
    return s.GrantOut(
        grant_id=grant.grant_id,
        status=grant.status,  # type: ignore[arg-type]
        points=grant.points,
        reason=grant.reason,
        source=grant.source,  # type: ignore[arg-type]
        audience=grant.audience,
        total=grant.total,
        done=grant.done,
        failed=grant.failed,
        failed_by_reason=grant.failed_by_reason,
        failures=[s.GrantFailureOut(member_id=f.member_id, reason=f.reason, line=f.line) for f in grant.failures],
        total_points=grant.total_points,
        chunks=grant.chunks,
        chunks_done=grant.next_chunk,
        requested_by=grant.requested_by,
        requested_at=grant.requested_at,
        approval_id=grant.approval_id,
        approved_by=grant.approved_by,
        approved_at=grant.approved_at,
        rejected_by=grant.rejected_by,
        rejection_reason=grant.rejection_reason,
        finished_at=grant.finished_at,
        error=grant.last_error if grant.status == "failed" else None,
    )


def _lines_refused(refused: BadLines | UnknownMembers) -> Response:
    """Every bad line, each as its own field (`members_csv[<line>].<column>`), up to a limit."""
    from chalicelib.api.errors import error_response
    from chalicelib.domain.grants import MAX_LINE_ERRORS, UnknownMembers

    shown = refused.errors[:MAX_LINE_ERRORS]
    fields = [{"field": error.field, "reason": error.reason} for error in shown]
    if len(refused.errors) > len(shown):
        fields.append({"field": "members_csv", "reason": f"and {len(refused.errors) - len(shown)} more lines"})
    return error_response(404 if isinstance(refused, UnknownMembers) else 400, refused.code, fields)
