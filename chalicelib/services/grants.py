"""Bulk points grants (批量发放积分): make one, read its progress, approve it.

The member list is resolved and checked when the grant is made (phones through their keyed
hash, merged members to their survivor, duplicates collapsed), and stored with the grant in
one audited transaction, so the second operator approves exactly these members.

Approval rule (积分审核), the single adjustments' limits applied to the grant as a whole:
it waits for a second operator when, with the grant counted, the operator would give any one
listed member more than ADJUST_APPROVAL_THRESHOLD within 24 h (so also whenever |points|
alone is above it), or would move more than ADJUST_OPERATOR_DAILY_LIMIT today in all (Σ|points|
over the members, single adjustments included). Within both, it runs at once and its total
is counted into the operator's day in the same transaction, so splitting a grant into small
ones, or into single adjustments, gains nothing. The grants job (`jobs/grants.py`) runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.clock import iso, local_date
from chalicelib.domain import keys
from chalicelib.domain.adjustments import Limits, NeedsApproval, check_limits
from chalicelib.domain.approvals import Approval, ApprovalStatus, check_decider, decided_event
from chalicelib.domain.errors import Busy, IdempotencyConflict, InvalidInput, MemberNotFound
from chalicelib.domain.grants import KIND as GRANT_KIND
from chalicelib.domain.grants import (
    MAX_MEMBERS,
    BulkGrant,
    GrantNotFound,
    GrantStatus,
    LineError,
    ListedLine,
    Target,
    UnknownMembers,
    chunk_count,
    chunked,
    grant_id,
    parse_members_csv,
    widest_window,
)
from chalicelib.domain.ledger import CounterAdd, fingerprint
from chalicelib.domain.members import Member
from chalicelib.retry import backoff
from chalicelib.security.phone import phone_hash
from chalicelib.settings import get_settings
from chalicelib.store import approvals_repo, audit_repo, counters_repo, grants_repo, members_repo

KEYS_PAGE = 1000  # member ids per Query of an audience index
KIND = GRANT_KIND  # the approvals this module decides (services/approvals.py dispatches on it)


@dataclass(frozen=True)
class GrantRequest:
    """Exactly one of `members_csv` and `audience` (the API checks)."""

    points: int
    reason: str
    members_csv: str | None = None
    audience: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        source = {"members_csv": self.members_csv} if self.members_csv is not None else {"audience": self.audience}
        return {"points": self.points, "reason": self.reason, **source}


def create(operator: str, request: GrantRequest, idempotency_key: str, now: datetime) -> BulkGrant:
    """Idempotent per (operator, Idempotency-Key): a retry answers the stored grant, the same key
    with another request is a conflict."""
    if request.points == 0:
        raise InvalidInput("points must not be zero", field="points")
    gid, wanted = grant_id(operator, idempotency_key), fingerprint(request.as_dict())
    stored = grants_repo.get(gid)
    if stored is not None:
        return _replayed(stored, wanted)
    if request.members_csv is not None:
        targets, members = _resolve_csv(request.members_csv)
    else:
        targets, members = _resolve_audience(request.audience or {})
    attempts = get_settings().tx_max_attempts
    for attempt in range(attempts):
        grant, counter = _plan(gid, operator, request, len(targets), members, wanted, now)
        audit_repo.describe(target=f"grant:{gid}", after=summary(grant))
        try:
            grants_repo.create(grant, chunked(targets), counter)
            break
        except grants_repo.GrantExists:
            return _replayed(_require(gid), wanted)
        except grants_repo.PlanMoved:
            backoff(attempt)
    else:
        raise Busy(f"grant {gid}: the operator's day total kept moving")
    if grant.status == GrantStatus.PENDING_APPROVAL:
        _ask_for_approval(grant)
    return grant


def get(grant_id: str) -> BulkGrant:
    return _with_decision(_require(grant_id))


def _with_decision(grant: BulkGrant) -> BulkGrant:
    """A grant still waiting whose request was rejected (驳回) reads as rejected."""
    if grant.status != GrantStatus.PENDING_APPROVAL or grant.approval_id is None:
        return grant
    approval = approvals_repo.get(grant.approval_id)
    if approval is None or approval.status != ApprovalStatus.REJECTED:
        return grant
    return replace(
        grant, status=GrantStatus.REJECTED, rejected_by=approval.decided_by, rejection_reason=approval.rejection_reason
    )


def approve(approval: Approval, approver: str, now: datetime) -> BulkGrant:
    """The second operator starts the grant; approving again changes nothing."""
    check_decider(approval, approver)
    grant = _require(str(approval.detail.get("grant_id") or approval.member_id))
    if grant.status == GrantStatus.PENDING_APPROVAL:
        after = {**summary(grant), "status": GrantStatus.RUNNING, "approved_by": approver}
        audit_repo.describe(target=f"grant:{grant.grant_id}", before=summary(grant), after=after)
        decided = replace(approval, status=ApprovalStatus.APPROVED, decided_by=approver, decided_at=iso(now))
        grants_repo.start(grant.grant_id, approval.approval_id, approver, iso(now), decided_event(decided))
        grant = _require(grant.grant_id)
    return grant


def summary(grant: BulkGrant) -> dict[str, Any]:
    """For the audit trail: what the grant gives to how many, never the list itself."""
    return {
        "status": grant.status,
        "points": grant.points,
        "reason": grant.reason,
        "members": grant.total,
        "total_points": grant.total_points,
        "source": grant.source,
        "audience": grant.audience,
    }


def _require(gid: str) -> BulkGrant:
    found = grants_repo.get(gid)
    if found is None:
        raise GrantNotFound(gid, field="grant_id")
    return found


def _replayed(stored: BulkGrant, wanted: str) -> BulkGrant:
    if stored.fingerprint != wanted:
        raise IdempotencyConflict("Idempotency-Key was used for a different request", field="Idempotency-Key")
    if stored.status == GrantStatus.PENDING_APPROVAL:
        _ask_for_approval(stored)  # the first request may have stopped before it asked
    return _with_decision(stored)


def _ask_for_approval(grant: BulkGrant) -> None:
    assert grant.approval_id is not None
    detail = {"grant_id": grant.grant_id, "members": grant.total, "total_points": grant.total_points}
    approvals_repo.create(
        Approval(
            grant.approval_id,
            grant.grant_id,  # the approval's subject: a grant, not one member
            grant.points,
            grant.reason,
            grant.requested_by,
            grant.requested_at,
            ApprovalStatus.PENDING,
            grant.fingerprint,
            kind=GRANT_KIND,
            detail=detail,
        )
    )


def _plan(
    gid: str, operator: str, request: GrantRequest, total: int, members: list[Member], wanted: str, now: datetime
) -> tuple[BulkGrant, CounterAdd | None]:
    settings = get_settings()
    at, total_points = now.timestamp(), abs(request.points) * total
    day = local_date(now, settings.timezone)
    counter_id = keys.key("adjust-day", operator, day.isoformat())  # the single adjustments' counter
    day_ends = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(settings.timezone)).timestamp()
    today = counters_repo.read(counter_id, at)
    read_total = today.total if today else 0
    counter: CounterAdd | None = CounterAdd(counter_id, total_points, read_total, day_ends, at)
    status = GrantStatus.RUNNING
    try:
        widest = widest_window(members, operator, at, request.points)
        check_limits(
            widest,
            read_total + total_points,
            Limits(settings.adjust_approval_threshold, settings.adjust_operator_daily_limit),
        )
    except NeedsApproval:
        status, counter = GrantStatus.PENDING_APPROVAL, None
    grant = BulkGrant(
        grant_id=gid,
        points=request.points,
        reason=request.reason,
        source="csv" if request.members_csv is not None else "audience",
        requested_by=operator,
        requested_at=iso(now),
        fingerprint=wanted,
        status=status,
        total=total,
        chunks=chunk_count(total),
        audience=request.audience,
        approval_id=keys.approval_id(GRANT_KIND, gid) if status == GrantStatus.PENDING_APPROVAL else None,
    )
    return grant, counter


def _resolve_csv(text: str) -> tuple[list[Target], list[Member]]:
    """Every line names an existing member (404 naming the lines otherwise); a merged member
    stands for its survivor; the first line naming a member is kept."""
    listed = parse_members_csv(text)
    aliases = {line.phone: f"phone:{phone_hash(line.phone)}" for line in listed if line.phone}
    by_alias = members_repo.find_member_ids(sorted(set(aliases.values()))) if aliases else {}
    named = [(line, line.member_id or by_alias.get(aliases[str(line.phone)])) for line in listed]
    members, closed = grants_repo.load_members(sorted({m for _, m in named if m}))
    loaded = {m.member_id: m for m in members}
    unknown = [_unknown(line, member_id in closed) for line, member_id in named if member_id not in loaded]
    if unknown:
        raise UnknownMembers(unknown)
    live: dict[str, Member] = {}
    targets: list[Target] = []
    for line, member_id in named:
        member = _live(loaded[str(member_id)])
        if member.member_id not in live:
            live[member.member_id] = member
            targets.append(Target(member.member_id, line.line))
    _check_size(len(targets), "members_csv")
    if not targets:
        raise MemberNotFound("the list names no member", field="members_csv")
    return targets, list(live.values())


def _unknown(line: ListedLine, closed: bool) -> LineError:
    column = "phone" if line.phone else "member_id"
    if closed:
        return LineError(line.line, column, "the member's account is closed")
    if line.phone:
        return LineError(line.line, "phone", "no member has this phone number")
    return LineError(line.line, "member_id", "no member with this id")


def _live(member: Member) -> Member:
    return members_repo.get_live_member(member.merged_into) if member.merged_into else member


def _resolve_audience(audience: dict[str, Any]) -> tuple[list[Target], list[Member]]:
    """The audience as campaigns describe it, paged through the keys-only member indexes (never
    a Scan) and each member read to apply every condition (`services/campaigns.matches`)."""
    from chalicelib.jobs.campaigns import partitions
    from chalicelib.services.campaigns import matches
    from chalicelib.services.tiers import all_tiers
    from chalicelib.store import campaigns_repo

    codes = {tier["code"] for tier in all_tiers()}
    if any(code not in codes for code in audience.get("tiers") or []):
        raise InvalidInput("unknown tier", field="audience.tiers")
    found: dict[str, Member] = {}
    for index, key in partitions(audience):
        after: str | None = None
        while True:
            ids, more = campaigns_repo.audience_page(index, key, after, KEYS_PAGE)
            for member in grants_repo.load_members(ids)[0] if ids else []:
                if matches(member, audience) and (index != "tier" or member.tier_code == key):
                    found[member.member_id] = member
            _check_size(len(found), "audience")
            if not more or not ids:
                break
            after = ids[-1]
    if not found:
        raise MemberNotFound("no member matches the audience", field="audience")
    targets = [Target(member_id) for member_id in sorted(found)]
    return targets, [found[t.member_id] for t in targets]


def _check_size(count: int, field: str) -> None:
    """Above the limit at once (an audience stops paging there); nobody at all is 404: the
    request was well formed, it just names no member."""
    if count > MAX_MEMBERS:
        raise InvalidInput(f"more than {MAX_MEMBERS} members: split the grant", field=field)
