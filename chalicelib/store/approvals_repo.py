"""The approvals table: requests waiting for a second operator (`domain/approvals.py`)."""

from __future__ import annotations

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.approvals import Approval, ApprovalStatus
from chalicelib.store.errors import condition_failed
from chalicelib.store.models import ApprovalModel


def create(approval: Approval) -> Approval:
    """Idempotent: returns the stored approval when one with this id exists."""
    item = ApprovalModel(
        approval.approval_id,
        member_id=approval.member_id,
        points=approval.points,
        reason=approval.reason,
        requested_by=approval.requested_by,
        requested_at=approval.requested_at,
        status=approval.status,
        fingerprint=approval.fingerprint,
        kind=approval.kind,
        detail=approval.detail or None,
    )
    try:
        item.save(condition=ApprovalModel.approval_id.does_not_exist())
        return approval
    except PutError as error:
        if not condition_failed(error):
            raise
    stored = get(approval.approval_id)
    assert stored is not None
    return stored


def get(approval_id: str) -> Approval | None:
    try:
        item = ApprovalModel.get(approval_id, consistent_read=True)
    except ApprovalModel.DoesNotExist:
        return None
    return Approval(
        approval_id=item.approval_id,
        member_id=item.member_id,
        points=int(item.points),
        reason=item.reason,
        requested_by=item.requested_by,
        requested_at=item.requested_at,
        status=ApprovalStatus(item.status),
        fingerprint=item.fingerprint,
        decided_by=item.decided_by,
        kind=item.kind or "adjust",
        detail=dict(item.detail or {}),
    )


def decide(approval_id: str, approver: str, decided_at: str) -> bool:
    """Marks a pending approval approved (for requests applied in steps after it, like merges,
    rather than in the transaction of their effect). False when it was decided already."""
    item = ApprovalModel(approval_id)
    try:
        item.update(
            actions=[
                ApprovalModel.status.set(ApprovalStatus.APPROVED),
                ApprovalModel.decided_by.set(approver),
                ApprovalModel.decided_at.set(decided_at),
            ],
            condition=ApprovalModel.status == ApprovalStatus.PENDING,
        )
        return True
    except UpdateError as error:
        if not condition_failed(error):
            raise
    return False
