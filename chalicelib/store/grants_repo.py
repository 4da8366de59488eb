"""Bulk grants (批量发放积分): the grant with its chunks, its start on approval, its progress
checkpoints, and the reads its list needs (members, phones, entries already written)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.domain.approvals import ApprovalDecided, ApprovalStatus
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.grants import BulkGrant, ChunkOutcome, Failure, GrantStatus, Target
from chalicelib.domain.ledger import CounterAdd
from chalicelib.domain.members import Member, MemberStatus
from chalicelib.settings import get_settings
from chalicelib.store import approvals_repo, counters_repo
from chalicelib.store.members_repo import member_from_model
from chalicelib.store.models import GrantChunkModel, GrantModel, LedgerEntryModel, MemberModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

RUNNING = "running"
_CLOSED = frozenset({MemberStatus.DELETING, MemberStatus.DELETED})


class GrantExists(Exception):
    """A grant with this id was stored first (a retried or concurrent request)."""


class PlanMoved(Exception):
    """The limit counter the plan read moved, or DynamoDB was contended: plan again."""


def create(grant: BulkGrant, chunks: list[list[Target]], counter: CounterAdd | None) -> None:
    """The grant, its chunks and (within the limits) the operator's day total, all or nothing."""
    tx = UnitOfWork(get_settings().region)
    tx.put("grant", _to_model(grant), condition=GrantModel.grant_id.does_not_exist())
    for index, targets in enumerate(chunks):
        lines = [t.line for t in targets]
        item = GrantChunkModel(
            grant.grant_id,
            index,
            member_ids=[t.member_id for t in targets],
            lines=lines if any(line is not None for line in lines) else None,
        )
        tx.put(f"chunk:{index}", item)
    if counter is not None:
        counters_repo.stage_add(
            tx, "counter", counter.counter_id, counter.amount, counter.read_total, counter.until, counter.now
        )
    try:
        tx.commit()
    except TransactionFailed as failure:
        if failure.failed("grant"):
            raise GrantExists(grant.grant_id) from failure
        if failure.refused or failure.retryable:
            raise PlanMoved(str(failure)) from failure
        raise


def get(grant_id: str) -> BulkGrant | None:
    try:
        return _from_model(GrantModel.get(grant_id, consistent_read=True))
    except GrantModel.DoesNotExist:
        return None


def running() -> Iterator[BulkGrant]:
    """Running grants, oldest first, through the sparse index (each read again: the index lags)."""
    for key in GrantModel.by_running.query(RUNNING):
        grant = get(key.grant_id)
        if grant is not None and grant.status == GrantStatus.RUNNING:
            yield grant


def chunk_targets(grant_id: str, index: int) -> list[Target]:
    item = GrantChunkModel.get(grant_id, index, consistent_read=True)
    ids: list[str] = list(item.member_ids)
    lines: list[int | None] = list(item.lines) if item.lines else [None] * len(ids)
    return [Target(member_id, line) for member_id, line in zip(ids, lines, strict=True)]


def existing_entries(entry_ids: list[str]) -> set[str]:
    """Which of these ledger entries exist (100 keys per BatchGetItem, keys only)."""
    found = LedgerEntryModel.batch_get(entry_ids, consistent_read=True, attributes_to_get=["entry_id"])
    return {item.entry_id for item in found}


def load_members(member_ids: list[str]) -> tuple[list[Member], set[str]]:
    """The open accounts among these ids, and the ids of closed ones (注销); missing ids are in
    neither. Strongly consistent, 100 per BatchGetItem."""
    members: list[Member] = []
    closed: set[str] = set()
    for item in MemberModel.batch_get(member_ids, consistent_read=True):
        if item.status in _CLOSED:
            closed.add(item.member_id)
        else:
            members.append(member_from_model(item))
    return members, closed


def member_states(member_ids: list[str]) -> dict[str, tuple[bool, str | None]]:
    """member id → (closed, merged_into) for the ids that exist: the few attributes a grant
    checks before it moves a member's points, 100 per BatchGetItem."""
    found = MemberModel.batch_get(
        member_ids, consistent_read=True, attributes_to_get=["member_id", "status", "merged_into"]
    )
    return {item.member_id: (item.status in _CLOSED, item.merged_into) for item in found}


def start(grant_id: str, approval_id: str, approver: str, at: str, announce: DomainEvent) -> bool:
    """The second operator's approval: the grant starts running, the approval is decided and
    the decision announced (`announce`), together. False when the grant was no longer waiting
    (approved already); ApprovalDecided when the request was rejected meanwhile."""
    tx = UnitOfWork(get_settings().region)
    tx.update(
        "grant",
        GrantModel(grant_id),
        actions=[
            GrantModel.status.set(GrantStatus.RUNNING),
            GrantModel.running.set(RUNNING),
            GrantModel.approved_by.set(approver),
            GrantModel.approved_at.set(at),
        ],
        condition=GrantModel.status == GrantStatus.PENDING_APPROVAL,
    )
    approvals_repo.stage_decision(tx, "approval", approval_id, ApprovalStatus.APPROVED, approver, at)
    tx.stage_event(announce)
    try:
        tx.commit()
        return True
    except TransactionFailed as failure:
        if failure.failed("grant"):
            return False
        if failure.failed("approval"):
            raise ApprovalDecided("the request was decided meanwhile", field="approval_id") from failure
        raise


def checkpoint(before: BulkGrant, after: BulkGrant, outcome: ChunkOutcome, at: str) -> bool:
    """Counts a chunk: the grant's progress moves from the chunk index it was read at, and the
    chunk keeps its failures, in one transaction. False when another run counted it first."""
    actions: list[Any] = [
        GrantModel.next_chunk.set(after.next_chunk),
        GrantModel.done.set(after.done),
        GrantModel.failed.set(after.failed),
        GrantModel.failures.set([f.as_dict() for f in after.failures]),
        GrantModel.failed_by_reason.set(after.failed_by_reason),
        GrantModel.status.set(after.status),
        GrantModel.errors.remove(),
        GrantModel.last_error.remove(),
    ]
    if after.status != GrantStatus.RUNNING:
        actions += [GrantModel.running.remove(), GrantModel.finished_at.set(after.finished_at or at)]
    tx = UnitOfWork(get_settings().region)
    tx.update("grant", GrantModel(before.grant_id), actions=actions, condition=_at_chunk(before))
    chunk_actions: list[Any] = [
        GrantChunkModel.failures.set([f.as_dict() for f in outcome.failures]),
        GrantChunkModel.finished_at.set(at),
    ]
    tx.update(f"chunk:{outcome.index}", GrantChunkModel(before.grant_id, outcome.index), actions=chunk_actions)
    try:
        tx.commit()
        return True
    except TransactionFailed as failure:
        if failure.failed("grant"):
            return False
        raise


def record_error(grant: BulkGrant, error: str, give_up_after: int, at: str) -> bool:
    """An unexpected error on the grant's current chunk; the `give_up_after`-th one fails the
    grant (the chunks after it are not processed). True when the grant failed."""
    errors = grant.errors + 1
    actions: list[Any] = [GrantModel.errors.set(errors), GrantModel.last_error.set(error[:200])]
    gave_up = errors >= give_up_after
    if gave_up:
        actions += [
            GrantModel.status.set(GrantStatus.FAILED),
            GrantModel.running.remove(),
            GrantModel.finished_at.set(at),
        ]
    tx = UnitOfWork(get_settings().region)
    tx.update("grant", GrantModel(grant.grant_id), actions=actions, condition=_at_chunk(grant))
    try:
        tx.commit()
    except TransactionFailed as failure:
        if failure.failed("grant"):
            return False
        raise
    return gave_up


def _at_chunk(grant: BulkGrant) -> Any:
    return (GrantModel.status == GrantStatus.RUNNING) & (GrantModel.next_chunk == grant.next_chunk)


def _to_model(grant: BulkGrant) -> GrantModel:
    return GrantModel(
        grant.grant_id,
        status=grant.status,
        points=grant.points,
        reason=grant.reason,
        source=grant.source,
        audience=grant.audience,
        requested_by=grant.requested_by,
        requested_at=grant.requested_at,
        fingerprint=grant.fingerprint,
        total=grant.total,
        chunks=grant.chunks,
        next_chunk=grant.next_chunk,
        done=grant.done,
        failed=grant.failed,
        approval_id=grant.approval_id,
        running=RUNNING if grant.status == GrantStatus.RUNNING else None,
    )


def _from_model(item: GrantModel) -> BulkGrant:
    return BulkGrant(
        grant_id=item.grant_id,
        points=int(item.points),
        reason=item.reason,
        source=item.source,
        requested_by=item.requested_by,
        requested_at=item.requested_at,
        fingerprint=item.fingerprint,
        status=GrantStatus(item.status),
        total=int(item.total),
        chunks=int(item.chunks),
        audience=dict(item.audience) if item.audience else None,
        next_chunk=int(item.next_chunk or 0),
        done=int(item.done or 0),
        failed=int(item.failed or 0),
        failures=tuple(Failure(str(f["member_id"]), str(f["reason"]), f.get("line")) for f in item.failures or ()),
        failed_by_reason={str(k): int(v) for k, v in (item.failed_by_reason or {}).items()},
        approval_id=item.approval_id,
        approved_by=item.approved_by,
        approved_at=item.approved_at,
        finished_at=item.finished_at,
        errors=int(item.errors or 0),
        last_error=item.last_error,
    )
