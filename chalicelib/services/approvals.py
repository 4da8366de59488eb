"""The second operator's decision (审核) on whatever waits for one: an adjustment above the
limits, or a merge request. Approved, the request's effect runs; rejected (驳回), nothing
does. Either way the decision is recorded once, by someone other than the requester, and
announced to them (`approval.decided`) in the transaction that records it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.clock import iso
from chalicelib.domain.approvals import (
    Approval,
    ApprovalDecided,
    ApprovalStatus,
    check_decider,
    decided_event,
    rejection_is_replay,
)
from chalicelib.domain.errors import ApprovalNotFound, Busy, InvalidInput
from chalicelib.domain.grants import BulkGrant
from chalicelib.domain.ledger import PointsChange
from chalicelib.domain.members import Member
from chalicelib.services import adjustments, grants, merge_requests, points
from chalicelib.store import approvals_repo, audit_repo


@dataclass(frozen=True)
class Decision:
    approval: Approval
    adjustment: adjustments.AdjustmentResult | None = None
    merge: merge_requests.MergeRequest | None = None
    grant: BulkGrant | None = None  # a bulk grant (批量发放积分), running once approved


def approve(approval_id: str, approver: str, now: datetime) -> Decision:
    approval = require(approval_id)
    if approval.status == ApprovalStatus.REJECTED:
        raise ApprovalDecided(f"rejected by {approval.decided_by}", field="approval_id")
    if approval.status == ApprovalStatus.PENDING:
        _describe(approval, ApprovalStatus.APPROVED, approver)
    if approval.kind == merge_requests.KIND:
        return Decision(approval, merge=merge_requests.approve(approval, approver, now))
    if approval.kind == grants.KIND:
        return Decision(approval, grant=grants.approve(approval, approver, now))
    announce = _announced(approval, approver, now)
    return Decision(approval, adjustment=adjustments.approve(approval, approver, now, decorate=announce))


def reject(approval_id: str, rejecter: str, reason: str, now: datetime) -> Approval:
    """Only a pending request, never by its requester; the same rejecter again gets the same
    answer, anyone after a decision 409."""
    if not reason.strip():
        raise InvalidInput("a rejection says why", field="reason")
    approval = require(approval_id)
    check_decider(approval, rejecter)
    if rejection_is_replay(approval, rejecter):
        return approval
    _describe(approval, ApprovalStatus.REJECTED, rejecter, reason)
    rejected = approvals_repo.reject(approval, rejecter, reason, iso(now))
    if rejected is not None:
        return rejected
    stored = require(approval_id)  # decided meanwhile: by an approver (409) or by this rejecter
    if rejection_is_replay(stored, rejecter):
        return stored
    raise Busy(f"approval {approval_id} busy")


def require(approval_id: str) -> Approval:
    approval = approvals_repo.get(approval_id)
    if approval is None:
        raise ApprovalNotFound(approval_id, field="approval_id")
    return approval


def _announced(approval: Approval, approver: str, now: datetime) -> points.Decorator:
    """Re-reads the request on every attempt of the points transaction: rejected meanwhile, the
    points are not applied (409); approved by another operator meanwhile, theirs is replayed.
    Otherwise `approval.decided` rides with the points and the approval mark."""

    def decorate(_member: Member, change: PointsChange) -> PointsChange:
        current = approvals_repo.get(approval.approval_id)
        if current is None or current.status != ApprovalStatus.PENDING:
            raise ApprovalDecided(f"the request is {current.status if current else 'gone'}", field="approval_id")
        decided = replace(current, status=ApprovalStatus.APPROVED, decided_by=approver, decided_at=iso(now))
        change.events = (*change.events, decided_event(decided))
        return change

    return decorate


def _describe(approval: Approval, status: ApprovalStatus, operator: str, reason: str | None = None) -> None:
    """The audit trail's before/after (the points change of an approved adjustment replaces it
    with the balances it moved)."""
    after = {"status": str(status), "decided_by": operator, "approval_id": approval.approval_id, "kind": approval.kind}
    if reason is not None:
        after["rejection_reason"] = reason
    audit_repo.describe(
        target=f"member:{approval.member_id}",
        before={"status": str(approval.status), "approval_id": approval.approval_id, "kind": approval.kind},
        after=after,
    )
