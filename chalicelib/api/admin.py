"""Operator API (`/admin`): audited points adjustments with a second approver above a threshold,
and member merges (会员合并)."""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.auth import OPERATOR
from chalicelib.api.lazy_schemas import schemas as s
from chalicelib.api.routing import Call, route
from chalicelib.clock import utc_now
from chalicelib.domain.members import OPERATOR_TRIGGER, MergeRecord
from chalicelib.services import adjustments, identity

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


@route(
    bp,
    "/admin/members/merge",
    "POST",
    auth_kind=OPERATOR,
    tag="admin",
    summary="Merge two members into one (the same merge again returns the same result)",
    body="MergeIn",
    response="MergeOut",
    idempotency_key="optional",
    errors=(400, 401, 404, 409, 503),
)
def merge(call: Call) -> s.MergeOut:
    body: s.MergeIn = call.body
    record = identity.merge_members(
        body.survivor_id,
        body.merged_id,
        trigger=OPERATOR_TRIGGER,
        now=utc_now(),
        operator=call.caller,
        reason=body.reason,
    )
    return _merge_out(record)


def _merge_out(record: MergeRecord) -> s.MergeOut:
    moved = {name: int(record.detail.get(name, 0)) for name in ("points", "debt", "growth", "lots", "aliases")}
    return s.MergeOut(
        merge_id=record.merge_id,
        survivor_id=record.survivor_id,
        merged_id=record.merged_id,
        status=record.status,  # type: ignore[arg-type]
        trigger=record.trigger,
        operator=record.operator,
        reason=record.reason,
        started_at=record.started_at,
        finished_at=record.finished_at,
        moved=s.MergeMovedOut(**moved),
    )


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
