"""Manual points adjustments by operators, audited; above a threshold a second operator
must approve (积分审核) before anything changes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from chalicelib.clock import iso
from chalicelib.domain import ledger as kinds
from chalicelib.domain.errors import ApprovalNotAllowed, ApprovalNotFound, IdempotencyConflict
from chalicelib.domain.ledger import ApprovalMark, LedgerEntry, fingerprint
from chalicelib.services import points
from chalicelib.settings import get_settings
from chalicelib.store import approvals_repo, members_repo
from chalicelib.store.approvals_repo import Approval


@dataclass(frozen=True)
class AdjustmentResult:
    member_id: str
    points: int
    entry: LedgerEntry | None = None
    approval: Approval | None = None


def request_adjustment(
    member_id: str, delta: int, reason: str, operator: str, key: str, now: datetime
) -> AdjustmentResult:
    request = {"member_id": member_id, "points": delta, "reason": reason, "operator": operator}
    if abs(delta) <= get_settings().adjust_approval_threshold:
        op = points.operation(f"adjust:{member_id}:{key}", request, now)
        return AdjustmentResult(member_id, delta, entry=_apply(member_id, delta, reason, operator, op))
    members_repo.get_member(member_id)  # 404 now, not at approval time
    approval_id = "apr_" + hashlib.sha256(f"{member_id}\n{key}".encode()).hexdigest()[:24]
    wanted = Approval(approval_id, member_id, delta, reason, operator, iso(now), "pending", fingerprint(request))
    stored = approvals_repo.create(wanted)
    if stored.fingerprint != wanted.fingerprint:
        raise IdempotencyConflict("idempotency key was used for a different request", field="Idempotency-Key")
    return AdjustmentResult(member_id, delta, approval=stored)


def approve(approval_id: str, approver: str, now: datetime) -> AdjustmentResult:
    approval = approvals_repo.get(approval_id)
    if approval is None:
        raise ApprovalNotFound(approval_id, field="approval_id")
    if approver == approval.requested_by:
        raise ApprovalNotAllowed("the requester cannot approve", field="approval_id")
    request = {"approval_id": approval_id}
    op = points.operation(f"adjust:{approval_id}", request, now)
    if approval.status != "pending":
        entry = points.replay(op)
        return AdjustmentResult(approval.member_id, approval.points, entry=entry, approval=approval)
    mark = ApprovalMark(approval_id, approver, iso(now))
    entry = _apply(approval.member_id, approval.points, approval.reason, approval.requested_by, op, mark, approver)
    return AdjustmentResult(approval.member_id, approval.points, entry=entry, approval=approval)


def _apply(
    member_id: str,
    delta: int,
    reason: str,
    operator: str,
    op: points.Operation,
    mark: ApprovalMark | None = None,
    approver: str | None = None,
) -> LedgerEntry:
    audit = {"reason": reason, "operator": operator, "approval": mark, "detail": {"approved_by": approver}}
    if delta > 0:
        return points.earn(member_id, delta, op, kind=kinds.ADJUST, **audit)
    return points.redeem(member_id, -delta, op, kind=kinds.ADJUST, **audit)
