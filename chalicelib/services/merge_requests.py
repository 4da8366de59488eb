"""Merge requests (会员合并申请): two members that the system cannot prove to be one person
become one only when a second person agrees.

An operator's merge, and a phone binding that finds the phone on another WeChat user's
account, create a request showing what would move (points, debt, growth, lots, aliases); a
different operator approves it, and the merge then runs as any merge does, recorded in
`merges` with who asked, why and who approved. The same pair asked again is the same request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain.approvals import Approval, ApprovalStatus
from chalicelib.domain.errors import ApprovalNotAllowed, InvalidInput, MemberNotFound, MergeConflict
from chalicelib.domain.ledger import fingerprint
from chalicelib.domain.members import Member, MergeRecord
from chalicelib.services import identity
from chalicelib.store import approvals_repo, members_repo, merge_repo, points_repo

KIND = "merge"


@dataclass(frozen=True)
class MergeRequest:
    approval: Approval
    merge: MergeRecord | None  # once approved (and while or after it runs)

    @property
    def preview(self) -> dict[str, int]:
        return {name: int(value) for name, value in self.approval.detail["preview"].items()}


def request_merge(
    survivor_id: str, merged_id: str, *, requested_by: str, reason: str, trigger: str, now: datetime
) -> MergeRequest:
    if survivor_id == merged_id:
        raise InvalidInput("a member cannot be merged into itself", field="merged_id")
    survivor = _member(survivor_id, "survivor_id", live=True)
    merged = _member(merged_id, "merged_id", live=False)
    if survivor.member_id == merged.member_id:
        raise MergeConflict(f"{survivor_id} was merged into {merged_id}", field="survivor_id")
    if merged.merged_into and members_repo.get_live_member(merged.merged_into).member_id != survivor.member_id:
        raise MergeConflict(f"{merged_id} was merged into another member", field="merged_id")
    approval_id = keys.approval_id(KIND, merged.member_id, survivor.member_id)
    stored = approvals_repo.get(approval_id)
    if stored is None:
        detail: dict[str, Any] = {
            "survivor_id": survivor.member_id,
            "merged_id": merged.member_id,
            "trigger": trigger,
            "preview": preview(merged),
        }
        wanted = Approval(
            approval_id,
            merged.member_id,
            merged.balance,
            reason,
            requested_by,
            iso(now),
            ApprovalStatus.PENDING,
            fingerprint({"survivor_id": survivor.member_id, "merged_id": merged.member_id}),
            kind=KIND,
            detail=detail,
        )
        stored = approvals_repo.create(wanted)
    return MergeRequest(stored, _merge_of(stored))


def approve(approval: Approval, approver: str, now: datetime) -> MergeRequest:
    """Runs the merge (again, if an earlier approval's run stopped half-way: it resumes)."""
    if approver == approval.requested_by:
        raise ApprovalNotAllowed("the requester cannot approve", field="approval_id")
    if approval.status == ApprovalStatus.PENDING:
        approvals_repo.decide(approval.approval_id, approver, iso(now))
    stored = approvals_repo.get(approval.approval_id) or approval
    detail = stored.detail
    identity.merge_members(
        str(detail["survivor_id"]),
        str(detail["merged_id"]),
        trigger=str(detail["trigger"]),
        now=now,
        operator=stored.requested_by,
        reason=stored.reason,
        approved_by=stored.decided_by or approver,
    )
    return MergeRequest(stored, _merge_of(stored))


def preview(merged: Member) -> dict[str, int]:
    """What a merge of this member would move."""
    return {
        "points": merged.balance,
        "debt": merged.debt,
        "growth": merged.growth,
        "lots": len(points_repo.load_lots(merged.member_id)),
        "aliases": len(identity.aliases_of(merged)),
    }


def _merge_of(approval: Approval) -> MergeRecord | None:
    if approval.status == ApprovalStatus.PENDING:
        return None
    return merge_repo.get(str(approval.detail["merged_id"]))


def _member(member_id: str, field: str, *, live: bool) -> Member:
    try:
        return members_repo.get_live_member(member_id) if live else members_repo.get_member(member_id)
    except MemberNotFound as missing:
        raise MemberNotFound(member_id, field=field) from missing
