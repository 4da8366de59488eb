"""Points persistence: reads of member + lots, and the one-transaction commit of a change."""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from itertools import islice
from typing import Any

from chalicelib.clock import local_date
from chalicelib.domain import ledger as kinds
from chalicelib.domain.approvals import ApprovalStatus
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ledger import LedgerEntry, PointsChange
from chalicelib.domain.points import PointsLot
from chalicelib.settings import get_settings
from chalicelib.store import counters_repo, member_card_repo, pending_repo, tiers_repo
from chalicelib.store.models import ApprovalModel, LedgerEntryModel, MemberModel, PointsLotModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

EXPIRY_SHARDS = 8
_CURSOR_SEQ = re.compile(r"[0-9]{1,18}")  # a ledger sequence number: a plain decimal integer
MAX_CURSOR_ENTRY_ID = 512  # ids are ≤ 64 characters, but escaping triples a `:` (a refund: up to 392)


def expiry_shard(expires_on: date, member_id: str) -> str:
    """The `expiry` index key of a member's lot: `<date>#<0..7>`, stable per member."""
    return f"{expires_on.isoformat()}#{zlib.crc32(member_id.encode()) % EXPIRY_SHARDS}"


class StaleRead(Exception):
    """The plan was made from state that changed before the commit: plan again."""


class DuplicateEntry(Exception):
    """A ledger entry with this idempotency key exists: the operation already happened."""


def load_lots(member_id: str) -> list[PointsLot]:
    return [
        PointsLot(date.fromisoformat(lot.expires_on), int(lot.remaining))
        for lot in PointsLotModel.query(member_id, consistent_read=True)
    ]


def get_entry(entry_id: str) -> LedgerEntry | None:
    try:
        return _entry_from_model(LedgerEntryModel.get(entry_id, consistent_read=True))
    except LedgerEntryModel.DoesNotExist:
        return None


def commit(change: PointsChange) -> None:
    tx = UnitOfWork(get_settings().region)
    add_change(tx, change)
    if change.refund is not None:
        mark = change.refund
        order = LedgerEntryModel(mark.order_entry_id)
        order_actions = [LedgerEntryModel.refunded_fen.set(mark.refunded_fen_after)]
        if mark.order_detail is not None:  # a refund by lines: their tallies, under the same guard
            order_actions.append(LedgerEntryModel.detail.set(mark.order_detail))
        tx.update(
            "order",
            order,
            actions=order_actions,
            condition=LedgerEntryModel.refunded_fen == mark.refunded_fen_before,
        )
    if change.approval is not None:
        approval = ApprovalModel(change.approval.approval_id)
        tx.update(
            "approval",
            approval,
            actions=[
                ApprovalModel.status.set(ApprovalStatus.APPROVED),
                ApprovalModel.decided_by.set(change.approval.decided_by),
                ApprovalModel.decided_at.set(change.approval.decided_at),
            ],
            condition=ApprovalModel.status == ApprovalStatus.PENDING,
        )
    for add in change.counter_adds:
        counters_repo.stage_add(
            tx, f"counter:{add.counter_id}", add.counter_id, add.amount, add.read_total, add.until, add.now
        )
    for join in change.joins:
        join(tx)
    try:
        tx.commit()
    except TransactionFailed as failure:
        if failure.failed("entry"):
            raise DuplicateEntry(change.entry.entry_id) from failure
        if failure.refused or failure.retryable:
            raise StaleRead(str(failure)) from failure
        raise  # refused as invalid (a ValidationError): planning again cannot help


def add_change(
    tx: UnitOfWork,
    change: PointsChange,
    prefix: str = "",
    member_actions: tuple[Any, ...] = (),
    member_guard: Any = None,
) -> None:
    """The member (version-guarded), its lots and the ledger entry of one change, tagged
    `<prefix>member`, `<prefix>lot:<date>`, `<prefix>entry`."""
    if change.new_balance < 0 and change.new_debt == 0:
        raise ValueError("a negative balance must be backed by debt from a reversal")
    entry, member_id = change.entry, change.member_id
    actions = [
        MemberModel.version.set(change.expected_version + 1),
        MemberModel.balance.set(change.new_balance),
        MemberModel.debt.set(change.new_debt),
        MemberModel.ledger_seq.set(entry.seq),
        *_activity(entry),
        *member_actions,
        *_member_extras(change),
    ]
    guard = MemberModel.member_id.exists() & (MemberModel.version == change.expected_version)
    if member_guard is not None:
        guard &= member_guard
    tx.update(f"{prefix}member", MemberModel(member_id), actions=actions, condition=guard)
    for expires_on, points in change.lot_adds.items():
        lot = PointsLotModel(member_id, expires_on.isoformat())
        lot_actions = [
            PointsLotModel.remaining.add(points),
            PointsLotModel.expiry_shard.set(expiry_shard(expires_on, member_id)),
        ]
        tx.update(f"{prefix}lot:{expires_on}", lot, actions=lot_actions)
    for take in change.lot_takes:
        lot = PointsLotModel(member_id, take.expires_on.isoformat())
        lot_guard = PointsLotModel.remaining == take.remaining_before
        if take.empties_lot:
            tx.delete(f"{prefix}lot:{take.expires_on}", lot, condition=lot_guard)
        else:
            lot_actions = [PointsLotModel.remaining.set(take.remaining_before - take.taken)]
            tx.update(f"{prefix}lot:{take.expires_on}", lot, actions=lot_actions, condition=lot_guard)
    if change.pending_move is not None:
        pending_repo.stage(tx, change.pending_move, prefix)
    tx.put(f"{prefix}entry", _entry_to_model(entry), condition=LedgerEntryModel.entry_id.does_not_exist())
    for event in change.events:
        tx.stage_event(event)
    # The member card (会员卡) follows what it shows: points and tier. A merge step is packed to the
    # item limit and followed by services/member_card.py `merged` instead.
    if entry.kind != kinds.MERGE and (entry.delta or change.tier_code is not None):
        member_card_repo.stage_sync(tx, member_id, entry.entry_id, entry.created_at, holder=change.card_holder)


def _member_extras(change: PointsChange) -> list[Any]:
    """What a change moves on the member besides its points: growth, tier, the growth buckets
    and review calendar (保级), the adjustment window."""
    actions: list[Any] = []
    if change.growth_delta:
        actions.append(MemberModel.growth.add(change.growth_delta))
    if change.pending_delta:
        actions.append(MemberModel.pending.add(change.pending_delta))
    if change.tier_code is not None:
        actions.append(MemberModel.tier_code.set(change.tier_code))
    if change.tier_state is not None:
        actions += tiers_repo.state_actions(change.member_id, change.tier_state)
    if change.recent_adjustments is not None:
        window = [{"operator": g.operator, "at": g.at, "points": g.points} for g in change.recent_adjustments]
        actions.append(MemberModel.recent_adjustments.set(window))
    return actions


def add_opening(tx: UnitOfWork, change: PointsChange) -> None:
    """The lots (tags `lot:<date>`) and ledger entry (`entry`) of an opening balance for a member
    created in the same transaction (a member import): the member's conditional put is the
    guard, there is no version to check yet."""
    if change.lot_takes or change.expected_version or change.new_debt:
        raise ValueError("an opening balance only adds lots to a new member")
    for expires_on, points in change.lot_adds.items():
        lot = PointsLotModel(change.member_id, expires_on.isoformat())
        shard = PointsLotModel.expiry_shard.set(expiry_shard(expires_on, change.member_id))
        tx.update(f"lot:{expires_on}", lot, actions=[PointsLotModel.remaining.add(points), shard])
    tx.put("entry", _entry_to_model(change.entry), condition=LedgerEntryModel.entry_id.does_not_exist())
    for event in change.events:
        tx.stage_event(event)


def _activity(entry: LedgerEntry) -> list[Any]:
    """Earning and redeeming are member activity (the dormant job's index); expiry is not."""
    if entry.kind not in (kinds.EARN, kinds.REDEEM):
        return []
    settings = get_settings()
    day = local_date(datetime.fromisoformat(entry.created_at), settings.timezone)
    return [MemberModel.last_active_on.set(day.isoformat())]


def list_entries(member_id: str, limit: int, cursor: str | None) -> tuple[list[LedgerEntry], str | None]:
    """Newest first. The cursor is opaque to clients (base64 of DynamoDB's last key)."""
    results = LedgerEntryModel.by_member.query(
        member_id,
        scan_index_forward=False,
        limit=limit,
        last_evaluated_key=_decode_cursor(cursor, member_id) if cursor else None,
    )
    entries = [_entry_from_model(item) for item in islice(results, limit)]
    last = results.last_evaluated_key if len(entries) == limit else None
    return entries, _encode_cursor(last) if last else None


def iter_member_entries(member_id: str, kind: str | None = None) -> Iterator[LedgerEntry]:
    only = None if kind is None else LedgerEntryModel.kind == kind
    for item in LedgerEntryModel.by_member.query(member_id, filter_condition=only):
        yield _entry_from_model(item)


def _encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str, member_id: str) -> dict[str, Any]:
    """Only a key this listing could have handed out: DynamoDB's answer to any other shape is
    a ValidationException (a 500), or worse, a page of someone else's index."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, RecursionError) as error:
        raise InvalidInput("cursor is not valid", field="cursor") from error
    if not _is_ledger_key(key, member_id):
        raise InvalidInput("cursor is not valid", field="cursor")
    return dict(key)


def _is_ledger_key(key: Any, member_id: str) -> bool:
    """`{"member_id": {"S": <this member>}, "seq": {"N": <integer>}, "entry_id": {"S": <id>}}`, exactly."""
    if not isinstance(key, dict) or set(key) != {"member_id", "seq", "entry_id"}:
        return False
    seq, entry_id = key["seq"], key["entry_id"]
    return (
        key["member_id"] == {"S": member_id}
        and isinstance(seq, dict)
        and set(seq) == {"N"}
        and isinstance(seq["N"], str)
        and _CURSOR_SEQ.fullmatch(seq["N"]) is not None
        and isinstance(entry_id, dict)
        and set(entry_id) == {"S"}
        and isinstance(entry_id["S"], str)
        and 0 < len(entry_id["S"]) <= MAX_CURSOR_ENTRY_ID
    )


def _entry_to_model(entry: LedgerEntry) -> LedgerEntryModel:
    return LedgerEntryModel(
        entry.entry_id,
        member_id=entry.member_id,
        seq=entry.seq,
        kind=entry.kind,
        delta=entry.delta,
        balance_after=entry.balance_after,
        debt_after=entry.debt_after,
        reason=entry.reason,
        source=entry.source,
        operator=entry.operator,
        created_at=entry.created_at,
        fingerprint=entry.fingerprint,
        detail=entry.detail or None,
        refunded_fen=entry.refunded_fen,
    )


def _entry_from_model(item: LedgerEntryModel) -> LedgerEntry:
    return LedgerEntry(
        entry_id=item.entry_id,
        member_id=item.member_id,
        seq=int(item.seq),
        kind=item.kind,
        delta=int(item.delta),
        balance_after=int(item.balance_after),
        debt_after=int(item.debt_after or 0),
        reason=item.reason,
        source=item.source,
        operator=item.operator,
        created_at=item.created_at,
        fingerprint=item.fingerprint,
        detail=dict(item.detail or {}),
        refunded_fen=None if item.refunded_fen is None else int(item.refunded_fen),
    )
