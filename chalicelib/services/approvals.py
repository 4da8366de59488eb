"""The second operator's decision (审核) on whatever waits for one: an adjustment above the
limits, or a merge request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.approvals import Approval
from chalicelib.domain.errors import ApprovalNotFound
from chalicelib.services import adjustments, merge_requests
from chalicelib.store import approvals_repo


@dataclass(frozen=True)
class Decision:
    approval: Approval
    adjustment: adjustments.AdjustmentResult | None = None
    merge: merge_requests.MergeRequest | None = None


def approve(approval_id: str, approver: str, now: datetime) -> Decision:
    approval = approvals_repo.get(approval_id)
    if approval is None:
        raise ApprovalNotFound(approval_id, field="approval_id")
    if approval.kind == merge_requests.KIND:
        return Decision(approval, merge=merge_requests.approve(approval, approver, now))
    return Decision(approval, adjustment=adjustments.approve(approval, approver, now))
