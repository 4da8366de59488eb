"""Operator API (`/admin`): audited points adjustments with a second approver above the limits,
and member merge requests (会员合并) that a second operator approves."""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.auth import OPERATOR
from chalicelib.api.lazy_schemas import schemas as s
from chalicelib.api.routing import Call, route
from chalicelib.clock import utc_now
from chalicelib.domain.approvals import ApprovalStatus
from chalicelib.domain.members import OPERATOR_TRIGGER, MergeRecord, MergeStatus
from chalicelib.services import adjustments, approvals, merge_requests

bp = Blueprint(__name__)


@route(
    bp,
    "/admin/members/{member_id}/points/adjustments",
    "POST",
    auth_kind=OPERATOR,
    permission="points.adjust",
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
    permission="approvals.decide",
    tag="admin",
    summary="Approve a pending adjustment, merge request or bulk grant (not by its requester)",
    response="ApprovalOut",
    errors=(401, 403, 404, 409, 503),
)
def approve(call: Call) -> s.ApprovalOut:
    decision = approvals.approve(call.path["approval_id"], call.caller, utc_now())
    if decision.grant is not None:
        return s.ApprovalOut(
            approval_id=decision.approval.approval_id, kind="grant", status="approved", grant_id=decision.grant.grant_id
        )
    if decision.merge is not None:
        request = _merge_request_out(decision.merge)
        return s.ApprovalOut(
            approval_id=decision.approval.approval_id, kind="merge", status=request.status, merge=request
        )
    adjustment = _out(decision.adjustment) if decision.adjustment else None
    status = adjustment.status if adjustment else "pending"
    return s.ApprovalOut(approval_id=decision.approval.approval_id, kind="adjust", status=status, adjustment=adjustment)


@route(
    bp,
    "/admin/members/merge",
    "POST",
    auth_kind=OPERATOR,
    permission="members.write",
    tag="admin",
    summary="Ask to merge two members (a second operator approves; the same pair again is the same request)",
    body="MergeIn",
    response="MergeRequestOut",
    status=202,
    errors=(400, 401, 404, 409, 503),
)
def merge(call: Call) -> s.MergeRequestOut:
    body: s.MergeIn = call.body
    request = merge_requests.request_merge(
        body.survivor_id,
        body.merged_id,
        requested_by=call.caller,
        reason=body.reason,
        trigger=OPERATOR_TRIGGER,
        now=utc_now(),
    )
    return _merge_request_out(request)


def _merge_request_out(request: merge_requests.MergeRequest) -> s.MergeRequestOut:
    approval, record = request.approval, request.merge
    status: str = ApprovalStatus.APPROVED if record else ApprovalStatus.PENDING
    if record and record.status == MergeStatus.DONE:
        status = MergeStatus.DONE
    return s.MergeRequestOut(
        approval_id=approval.approval_id,
        status=status,  # type: ignore[arg-type]
        survivor_id=str(approval.detail["survivor_id"]),
        merged_id=str(approval.detail["merged_id"]),
        requested_by=approval.requested_by,
        approved_by=approval.decided_by,
        reason=approval.reason,
        preview=s.MergeMovedOut(**request.preview),
        merge=_merge_out(record) if record else None,
    )


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
        approved_by=record.approved_by,
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
