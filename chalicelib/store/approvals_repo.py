"""Pending points adjustments (积分审核)."""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.exceptions import PutError

from chalicelib.store.errors import condition_failed
from chalicelib.store.models import ApprovalModel


@dataclass(frozen=True)
class Approval:
    approval_id: str
    member_id: str
    points: int
    reason: str
    requested_by: str
    requested_at: str
    status: str
    fingerprint: str
    decided_by: str | None = None


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
        status=item.status,
        fingerprint=item.fingerprint,
        decided_by=item.decided_by,
    )
