"""Operator API (`/admin`): audited points adjustments with a second approver above a threshold."""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.auth import OPERATOR
from chalicelib.api.lazy_schemas import schemas as s
from chalicelib.api.routing import Call, route
from chalicelib.clock import utc_now
from chalicelib.services import adjustments

bp = Blueprint(__name__)


@route(
    bp,
    "/admin/members/{member_id}/points/adjustments",
    "POST",
    auth_kind=OPERATOR,
    tag="admin",
    summary="Adjust points (applied, or pending a second operator above the threshold)",
    body="AdjustmentIn",
    response="AdjustmentOut",
    status=201,
    idempotency_key="required",
    errors=(400, 401, 404, 409, 503),
)
def adjust(call: Call) -> s.AdjustmentOut:
    body: s.AdjustmentIn = call.body
    result = adjustments.request_adjustment(
        call.path["member_id"], body.points, body.reason, call.caller, str(call.idempotency_key), utc_now()
    )
    return _out(result)


@route(
    bp,
    "/admin/approvals/{approval_id}/approve",
    "POST",
    auth_kind=OPERATOR,
    tag="admin",
    summary="Approve a pending adjustment (not by its requester)",
    response="AdjustmentOut",
    errors=(401, 403, 404, 409, 503),
)
def approve(call: Call) -> s.AdjustmentOut:
    return _out(adjustments.approve(call.path["approval_id"], call.caller, utc_now()))


def _out(result: adjustments.AdjustmentResult) -> s.AdjustmentOut:
    entry, approval = result.entry, result.approval
    return s.AdjustmentOut(
        status="applied" if entry else "pending",
        member_id=result.member_id,
        points=result.points,
        entry_id=entry.entry_id if entry else None,
        approval_id=approval.approval_id if approval else None,
        balance=entry.balance_after if entry else None,
    )
