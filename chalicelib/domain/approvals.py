"""Requests waiting for a second operator (审核): points adjustments above the limits and
member merges (会员合并) asked for by an operator or by a phone binding.

A request is decided once: approved (its effect applied) or rejected (驳回, nothing applied),
never by the person who asked. The decision is announced to the requester (`approval.decided`)
in the transaction that records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.domain.errors import AlreadySet, ApprovalNotAllowed
from chalicelib.domain.events import DomainEvent

DECIDED = "approval.decided"
MEMBER_REQUESTER = "member:"  # requested_by of a merge a member's phone binding asked for


class ApprovalStatus(StrEnum):
    """Stored as is (the approvals table) and shown to operators."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class ApprovalDecided(AlreadySet):
    """The request was decided already (approved, or rejected by someone else): a decision
    cannot be changed, only a new request made."""

    code = "approval_decided"


@dataclass(frozen=True)
class Approval:
    approval_id: str
    member_id: str
    points: int
    reason: str
    requested_by: str
    requested_at: str
    status: ApprovalStatus
    fingerprint: str
    decided_by: str | None = None
    kind: str = "adjust"  # "adjust" | "merge"
    detail: dict[str, Any] = field(default_factory=dict)
    decided_at: str | None = None
    rejection_reason: str | None = None

    @property
    def survivor_id(self) -> str | None:
        """A merge request's survivor: the other member it concerns."""
        found = self.detail.get("survivor_id")
        return str(found) if found else None


def check_decider(approval: Approval, operator: str) -> None:
    """Maker/checker: whoever asked cannot decide."""
    if operator == approval.requested_by:
        raise ApprovalNotAllowed("the requester cannot decide their own request", field="approval_id")


def rejection_is_replay(approval: Approval, rejecter: str) -> bool:
    """True when this rejecter already rejected it (the same request again); a request
    decided any other way cannot be rejected."""
    if approval.status == ApprovalStatus.REJECTED and approval.decided_by == rejecter:
        return True
    if approval.status != ApprovalStatus.PENDING:
        raise ApprovalDecided(f"the request is {approval.status}", field="approval_id")
    return False


def decided_event(approval: Approval) -> DomainEvent:
    """`approval.decided` for the requester. One per request (a request is decided once), so
    its id is the request's."""
    data: dict[str, Any] = {
        "approval_id": approval.approval_id,
        "approval_kind": approval.kind,
        "member_id": approval.member_id,
        "status": str(approval.status),
        "requested_by": approval.requested_by,
        "decided_by": approval.decided_by,
        "points": approval.points,
        "rejection_reason": approval.rejection_reason,
    }
    if approval.survivor_id:
        data |= {"survivor_id": approval.survivor_id, "merged_id": approval.member_id}
    occurred_at = approval.decided_at or approval.requested_at
    return DomainEvent(f"{approval.approval_id}#{DECIDED}", DECIDED, approval.member_id, occurred_at, data)
