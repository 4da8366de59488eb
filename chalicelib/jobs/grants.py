"""Scheduled every minute: run the running bulk grants (批量发放积分), chunk by chunk.

A chunk is up to 500 members. Its members whose ledger entry (`grant:<grant>:<member>`)
already exists are read first (one BatchGetItem per 100) and not touched again; every other
member's change is one ordinary points operation under that key, so a run that died half-way
through a chunk, or two runs on the same chunk at once, grant each member once. The chunk is
then counted in one conditional write guarded by the chunk index the run read (the
checkpoint), so it is counted once too. Cost: about two requests per member granted (the
member read, the points transaction; a deduction also reads the lots), plus a dozen per chunk
(the chunk, its entries and member states 100 per BatchGetItem, the checkpoint): 2.04 per
member at 1k and at 20k members (tests/bench/test_bench_grants.py).

A member the change cannot apply to is reported with its reason and the others go on. An
unexpected error on a chunk is recorded and the chunk tried again at the next run; the third
fails the grant. Throttling and outages stop the run: the next one resumes at the checkpoint.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime

from chalicelib.clock import iso
from chalicelib.domain import ledger as kinds
from chalicelib.domain.adjustments import Grant, NeedsApproval, add_to_window
from chalicelib.domain.errors import Busy, DomainError, InsufficientPoints, MemberNotFound
from chalicelib.domain.grants import (
    BulkGrant,
    ChunkOutcome,
    Failure,
    FailureReason,
    GrantStatus,
    MemberMerged,
    after_chunk,
    entry_id,
)
from chalicelib.domain.ledger import EntryNote, PointsChange
from chalicelib.domain.members import Member
from chalicelib.observability import logger
from chalicelib.services import points
from chalicelib.settings import get_settings
from chalicelib.store import grants_repo
from chalicelib.store.errors import is_unavailable

BUDGET_SECONDS = 600  # under a 15-minute Lambda; a chunk started is finished (about 10 s)
GIVE_UP_AFTER = 3  # unexpected errors on one chunk


def run(now: datetime) -> dict[str, int]:
    counts: Counter[str] = Counter(grants=0, chunks=0, items=0, failed=0)
    deadline = time.monotonic() + BUDGET_SECONDS
    for grant in grants_repo.running():
        counts["grants"] += 1
        _run_grant(grant, now, deadline, counts)
        if time.monotonic() > deadline:
            break
    return dict(counts)


def _run_grant(grant: BulkGrant | None, now: datetime, deadline: float, counts: Counter[str]) -> None:
    while grant is not None and grant.status == GrantStatus.RUNNING and time.monotonic() <= deadline:
        try:
            outcome = run_chunk(grant, now)
        except Exception as error:
            if isinstance(error, Busy) or is_unavailable(error):
                raise
            logger.exception("grant chunk failed", extra={"grant_id": grant.grant_id, "chunk": grant.next_chunk})
            grants_repo.record_error(
                grant, f"chunk {grant.next_chunk}: {type(error).__name__}", GIVE_UP_AFTER, iso(now)
            )
            return
        grant = checkpoint(grant, outcome, now)
        if grant is not None:  # else another run counted this chunk, and goes on from it
            counts.update(chunks=1, items=outcome.done, failed=len(outcome.failures))


def checkpoint(grant: BulkGrant, outcome: ChunkOutcome, now: datetime) -> BulkGrant | None:
    """The grant after this chunk, or None when another run counted the chunk first."""
    after = after_chunk(grant, outcome, iso(now))
    return after if grants_repo.checkpoint(grant, after, outcome, iso(now)) else None


def run_chunk(grant: BulkGrant, now: datetime) -> ChunkOutcome:
    """Grants the members of the grant's current chunk; their outcome, not yet counted."""
    index = grant.next_chunk
    targets = grants_repo.chunk_targets(grant.grant_id, index)
    granted = grants_repo.existing_entries([entry_id(grant.grant_id, t.member_id) for t in targets])
    todo = [t for t in targets if entry_id(grant.grant_id, t.member_id) not in granted]
    states = grants_repo.member_states([t.member_id for t in todo]) if todo else {}
    failures: list[Failure] = []
    for target in todo:
        reason = _refused(states.get(target.member_id)) or grant_member(grant, target.member_id, now)
        if reason is not None:
            failures.append(Failure(target.member_id, reason, target.line))
    return ChunkOutcome(index, len(targets) - len(failures), tuple(failures))


def _refused(state: tuple[bool, str | None] | None) -> str | None:
    """What the member's account says before its points are touched: gone, closed (注销: the
    points engine would still credit a tombstone), or merged into another member since."""
    if state is None:
        return FailureReason.MEMBER_NOT_FOUND
    closed, merged_into = state
    if closed:
        return FailureReason.MEMBER_DELETED
    return FailureReason.MEMBER_MERGED if merged_into else None


def grant_member(grant: BulkGrant, member_id: str, now: datetime) -> str | None:
    """One member's change, once per grant and member; the reason when it cannot apply."""
    op = points.operation(
        entry_id(grant.grant_id, member_id), {"grant_id": grant.grant_id, "points": grant.points}, now
    )
    note = EntryNote(
        reason=grant.reason,
        operator=grant.requested_by,
        detail={"grant_id": grant.grant_id, "approved_by": grant.approved_by},
    )
    decorate = _guard(grant, member_id, now)
    try:
        if grant.points > 0:
            points.earn(member_id, grant.points, op, kind=kinds.GRANT, decorate=decorate, note=note)
        else:
            points.redeem(member_id, -grant.points, op, kind=kinds.GRANT, decorate=decorate, note=note)
    except MemberNotFound:
        return FailureReason.MEMBER_NOT_FOUND
    except MemberMerged:
        return FailureReason.MEMBER_MERGED
    except InsufficientPoints:
        return FailureReason.INSUFFICIENT_POINTS
    except NeedsApproval:
        return FailureReason.APPROVAL_REQUIRED
    except Busy:
        raise
    except DomainError as refused:  # any other rule that refuses this member: reported, not retried
        return refused.code
    return None


def _guard(grant: BulkGrant, member_id: str, now: datetime) -> points.Decorator:
    """Refuses a member merged since the list was made (its survivor may be listed too, and is
    granted under its own key), and for a grant that needed no approval, counts it into the
    member's 24-hour window, as a single adjustment would be, refusing it over the limit."""
    at = now.timestamp()

    def decorate(member: Member, change: PointsChange) -> PointsChange:
        if member.member_id != member_id:
            raise MemberMerged(f"{member_id} was merged into {member.member_id}")
        if grant.approved_by is None:
            window, total = add_to_window(member.recent_adjustments, Grant(grant.requested_by, at, abs(grant.points)))
            if total > get_settings().adjust_approval_threshold:
                raise NeedsApproval(f"{total} points on this member within 24 h", field="points")
            change.recent_adjustments = window
        return change

    return decorate
