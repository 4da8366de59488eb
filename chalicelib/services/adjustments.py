"""Manual points adjustments by operators, audited; above a threshold a second operator
must approve (积分审核) before anything changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from chalicelib.clock import iso, local_date
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.adjustments import Grant, Limits, NeedsApproval, add_to_window, check_limits
from chalicelib.domain.approvals import Approval, ApprovalStatus
from chalicelib.domain.errors import ApprovalNotAllowed, IdempotencyConflict
from chalicelib.domain.ledger import ApprovalMark, CounterAdd, EntryNote, LedgerEntry, PointsChange, fingerprint
from chalicelib.domain.members import Member
from chalicelib.services import points
from chalicelib.settings import get_settings
from chalicelib.store import approvals_repo, counters_repo, members_repo, points_repo


@dataclass(frozen=True)
class AdjustmentResult:
    member_id: str
    points: int
    entry: LedgerEntry | None = None
    approval: Approval | None = None


def request_adjustment(
    member_id: str, delta: int, reason: str, operator: str, key: str, now: datetime
) -> AdjustmentResult:
    """Applied at once within the operator's limits; otherwise pending a second operator. A
    retried request (same operator, member and key) has its first outcome, whatever the limits
    say by then."""
    request = {"member_id": member_id, "points": delta, "reason": reason, "operator": operator}
    approval_id = keys.approval_id("adjust", member_id, operator, key)
    stored = approvals_repo.get(approval_id)
    if stored is not None:
        return _pending(stored, fingerprint(request))
    if abs(delta) <= get_settings().adjust_approval_threshold:
        op = points.operation(keys.adjust_entry(member_id, operator, key), request, now)
        try:
            entry = _apply(member_id, delta, reason, operator, op, decorate=_within_limits(operator, delta, now))
            return AdjustmentResult(member_id, delta, entry=entry)
        except NeedsApproval:
            pass  # over a limit once the operator's recent adjustments count: a second operator decides
    members_repo.get_member(member_id)  # 404 now, not at approval time
    wanted = Approval(
        approval_id, member_id, delta, reason, operator, iso(now), ApprovalStatus.PENDING, fingerprint(request)
    )
    return _pending(approvals_repo.create(wanted), wanted.fingerprint)


def _pending(stored: Approval, wanted_fingerprint: str) -> AdjustmentResult:
    if stored.fingerprint != wanted_fingerprint:
        raise IdempotencyConflict("Idempotency-Key was used for a different request", field="Idempotency-Key")
    entry = (
        points_repo.get_entry(keys.approved_adjust_entry(stored.approval_id))
        if stored.status != ApprovalStatus.PENDING
        else None
    )
    return AdjustmentResult(stored.member_id, stored.points, entry=entry, approval=stored)


def _within_limits(operator: str, delta: int, now: datetime) -> points.Decorator:
    """Counts this adjustment into the member's rolling window and the operator's day, in the
    same transaction as the points; over either limit, NeedsApproval instead."""
    settings = get_settings()
    limits = Limits(settings.adjust_approval_threshold, settings.adjust_operator_daily_limit)
    at = now.timestamp()
    day = local_date(now, settings.timezone)
    counter_id = keys.key("adjust-day", operator, day.isoformat())
    day_ends = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(settings.timezone)).timestamp()

    def decorate(member: Member, change: PointsChange) -> PointsChange:
        window, member_total = add_to_window(member.recent_adjustments, Grant(operator, at, abs(delta)))
        today = counters_repo.read(counter_id, at)
        read_total = today.total if today else 0
        check_limits(member_total, read_total + abs(delta), limits)
        change.recent_adjustments = window
        change.counter_adds = (CounterAdd(counter_id, abs(delta), read_total, day_ends, at),)
        return change

    return decorate


def approve(
    approval: Approval, approver: str, now: datetime, decorate: points.Decorator | None = None
) -> AdjustmentResult:
    """`decorate` joins the points transaction on every attempt (the decision's announcement)."""
    approval_id = approval.approval_id
    if approver == approval.requested_by:
        raise ApprovalNotAllowed("the requester cannot approve", field="approval_id")
    request = {"approval_id": approval_id}
    op = points.operation(keys.approved_adjust_entry(approval_id), request, now)
    if approval.status != ApprovalStatus.PENDING:
        entry = points.replay(op)
        return AdjustmentResult(approval.member_id, approval.points, entry=entry, approval=approval)
    mark = ApprovalMark(approval_id, approver, iso(now))
    entry = _apply(
        approval.member_id, approval.points, approval.reason, approval.requested_by, op, mark, approver, decorate
    )
    return AdjustmentResult(approval.member_id, approval.points, entry=entry, approval=approval)


def _apply(
    member_id: str,
    delta: int,
    reason: str,
    operator: str,
    op: points.Operation,
    mark: ApprovalMark | None = None,
    approver: str | None = None,
    decorate: points.Decorator | None = None,
) -> LedgerEntry:
    note = EntryNote(reason=reason, operator=operator, detail={"approved_by": approver})
    if delta > 0:
        return points.earn(member_id, delta, op, kind=kinds.ADJUST, decorate=decorate, note=note, approval=mark)
    return points.redeem(member_id, -delta, op, kind=kinds.ADJUST, decorate=decorate, note=note, approval=mark)
