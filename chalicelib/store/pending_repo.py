"""Pending order points (冻结期): one item per order in its return window, staged by the points
commit (`points_repo.add_change`) in the same transaction as the member's pending count."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date

from chalicelib.domain.ledger import PendingMove
from chalicelib.store import jobs_repo
from chalicelib.store.jobs_repo import Cursor
from chalicelib.store.models import PendingPointsModel
from chalicelib.store.tx import UnitOfWork

RELEASE_SHARDS = 8


@dataclass(frozen=True)
class Pending:
    order_entry_id: str
    member_id: str
    remaining: int
    earned: int
    release_on: date
    expires_on: date


def release_shard(member_id: str) -> str:
    return str(zlib.crc32(member_id.encode()) % RELEASE_SHARDS)


def get(order_entry_id: str) -> Pending | None:
    try:
        return _from_model(PendingPointsModel.get(order_entry_id, consistent_read=True))
    except PendingPointsModel.DoesNotExist:
        return None


def of_member(member_id: str) -> list[Pending]:
    """The member's pending orders, soonest released first (an index: eventually consistent)."""
    return [_from_model(item) for item in PendingPointsModel.by_member.query(member_id)]


def due_page(shard: int, day: date, cursor: Cursor, limit: int) -> tuple[list[str], Cursor]:
    """Order entry ids of one shard whose release day is `day` or before: what is due, never the table."""
    results = PendingPointsModel.by_release.query(
        str(shard),
        PendingPointsModel.release_on <= day.isoformat(),
        limit=limit,
        last_evaluated_key=cursor,
        page_size=limit,
    )
    items, last = jobs_repo.page(results, limit)
    return [item.order_entry_id for item in items], last


def stage(tx: UnitOfWork, move: PendingMove, prefix: str = "") -> None:
    """Tag `<prefix>pending`: an add is put only if the order has none; a take is guarded by
    the remaining points the plan read (and deletes the item it empties)."""
    item = PendingPointsModel(move.order_entry_id)
    if move.points > 0:
        if move.release_on is None or move.expires_on is None:
            raise ValueError("a pending add names its release day and lot")
        item.member_id, item.remaining, item.earned = move.member_id, move.points, move.points
        item.release_on, item.expires_on = move.release_on.isoformat(), move.expires_on.isoformat()
        item.release_shard = release_shard(move.member_id)
        tx.put(f"{prefix}pending", item, condition=PendingPointsModel.order_entry_id.does_not_exist())
        return
    guard = PendingPointsModel.remaining == move.remaining_before
    if move.empties:
        tx.delete(f"{prefix}pending", item, condition=guard)
    else:
        actions = [PendingPointsModel.remaining.set(move.remaining_before + move.points)]
        tx.update(f"{prefix}pending", item, actions=actions, condition=guard)


def stage_repoint(tx: UnitOfWork, order_entry_ids: tuple[str, ...], from_id: str, to_id: str) -> None:
    """A merge (会员合并): the merged member's pending orders now count for the survivor."""
    for order_entry_id in order_entry_ids:
        tx.update(
            f"pending:{order_entry_id}",
            PendingPointsModel(order_entry_id),
            actions=[
                PendingPointsModel.member_id.set(to_id),
                PendingPointsModel.release_shard.set(release_shard(to_id)),
            ],
            condition=PendingPointsModel.member_id == from_id,
        )


def _from_model(item: PendingPointsModel) -> Pending:
    return Pending(
        order_entry_id=item.order_entry_id,
        member_id=item.member_id,
        remaining=int(item.remaining),
        earned=int(item.earned),
        release_on=date.fromisoformat(item.release_on),
        expires_on=date.fromisoformat(item.expires_on),
    )


def forfeit(order_entry_id: str, region: str) -> int:
    """A closed account's (注销) held points go with it, as its balance did: the item and the
    member's count, in one transaction, only while the account is closed. The points forfeited."""
    from chalicelib.domain.members import MemberStatus
    from chalicelib.store.models import MemberModel
    from chalicelib.store.tx import TransactionFailed

    held = get(order_entry_id)
    if held is None:
        return 0
    tx = UnitOfWork(region)
    tx.delete("pending", PendingPointsModel(order_entry_id), condition=PendingPointsModel.remaining == held.remaining)
    tx.update(
        "member",
        MemberModel(held.member_id),
        actions=[MemberModel.pending.add(-held.remaining)],
        condition=MemberModel.status == MemberStatus.DELETED,
    )
    try:
        tx.commit()
    except TransactionFailed:
        return 0  # it moved meanwhile, or the account is not closed: the next run looks again
    return held.remaining
