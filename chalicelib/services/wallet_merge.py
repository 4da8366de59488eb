"""Stored value through a member merge (会员合并): the survivor holds the merged member's money.

The merge's hook (`merged`, called by services/identity.py once the points step marked the
merged member `merged_into` the survivor) moves both purses and the pending total in ONE
transaction: the merged wallet (guarded by its version) goes to 0 with a `merge_out` line per
purse, the survivor's (guarded by its version) gains them with `merge_in` lines, and the merged
member's pending top-ups are re-pointed to the survivor in the same transaction, so a top-up
paid later credits the survivor and each wallet's pending total stays Σ its pending top-ups.

Idempotent by the merged wallet's version: a move is planned from the version it read and
commits only under it, leaving the wallet empty, so a retried or concurrent run of the merge
reads the next version and finds nothing to move. The card's limit does not apply: the money is
the member's, so the survivor may hold more than `max_balance_fen`; its top-ups are then
refused until it is below (domain/wallet.py `check_topup` counts what the card holds).

Every other wallet change that names a member reads the wallet, then checks (`check_holder`)
that the member was not merged since; a merge sets `merged_into` before the wallet moves, so a
change planned on the merged wallet either fails on its version (the move came first) or is
moved with it. `commit_following` plans again on the survivor's wallet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from chalicelib.clock import iso
from chalicelib.domain.errors import Busy, MemberNotFound
from chalicelib.domain.topups import Topup
from chalicelib.domain.wallet import EntryKind, Wallet, WalletChange
from chalicelib.observability import logger
from chalicelib.retry import backoff
from chalicelib.services.wallet import commit_with_wallet
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, topups_repo, wallet_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork

R = TypeVar("R")
# Pending top-ups re-pointed per transaction: + 2 wallets and 4 ledger lines within 25 items.
PENDING_PER_MOVE = 16


class WalletMoved(Exception):
    """The wallet read belongs to a member merged away: plan again on `holder`'s."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"wallet moved to {holder}")
        self.holder = holder


@dataclass(frozen=True)
class WalletMove:
    survivor_id: str
    principal: int = 0
    bonus: int = 0
    pending: int = 0
    topups: int = 0


def check_holder(member_id: str, *, closed_ok: bool = False, tx: UnitOfWork | None = None) -> None:
    """Called by a stage after its wallet was read: the member still holds that wallet. With the
    stage's `tx`, what the member read says of a member card is noted for the card's sync (no
    second read, store/member_card_repo.py `stage_sync`)."""
    member = members_repo.get_member(member_id)
    if tx is not None:
        tx.notes.setdefault("card_holders", {})[member.member_id] = member.card_code is not None
    if member.merged_into:
        raise WalletMoved(member.merged_into)
    if member.closed and not closed_ok:
        raise MemberNotFound(f"{member_id}: account closed")


def commit_following(
    member_id: str, stage: Callable[[UnitOfWork, Wallet, int], R], also_retry: tuple[str, ...] = ()
) -> R:
    """services/wallet.py `commit_with_wallet` on the member's wallet, or on the survivor's when
    the stage raises WalletMoved (a merge moved the wallet between the read and the commit)."""
    holder = member_id
    for _ in range(members_repo.MAX_MERGE_HOPS):
        try:
            return commit_with_wallet(holder, stage, also_retry)
        except WalletMoved as moved:
            holder = moved.holder
    raise Busy(f"wallet of {member_id}: merge chain too long")


def merged(merged_id: str, survivor_id: str, now: datetime) -> WalletMove:
    """The merge's hook. Raises Busy when contention (or the index lagging) did not clear: the
    merge record stays started and a re-run (the approval again, `task.merge_members`) resumes."""
    moved = move_wallet(merged_id, survivor_id, now)
    if moved.principal or moved.bonus or moved.pending:
        logger.info("wallet moved by a merge", extra={"member_id": merged_id, "survivor_id": moved.survivor_id})
    return moved


def move_wallet(merged_id: str, survivor_id: str, now: datetime) -> WalletMove:
    """Everything the merged wallet holds, onto the live survivor; nothing when it is empty."""
    total = WalletMove(survivor_id)
    target = survivor_id
    for attempt in range(3 * get_settings().tx_max_attempts):
        source = wallet_repo.get_wallet(merged_id)
        if not (source.principal or source.bonus or source.pending_fen):
            return total
        dest = wallet_repo.get_wallet(target)
        live = members_repo.get_live_member(merged_id).member_id  # read after both wallets
        pending = topups_repo.pending_of_member(merged_id) if source.pending_fen else []
        if live == merged_id:
            raise ValueError(f"{merged_id} is not merged: its wallet stays")
        if live != target or sum(_reserved(t) for t in pending) != source.pending_fen:
            target = live  # the survivor was merged on since; or the index lags: read again
            backoff(attempt)
            continue
        step = _stage_move(source, dest, pending[:PENDING_PER_MOVE], now)
        try:
            step[0].commit()
        except TransactionFailed as failure:
            if not (failure.refused or failure.retryable):
                raise
            backoff(attempt)
            continue
        total = _add(total, step[1])
        if len(pending) <= PENDING_PER_MOVE:
            return total  # committed under the version read: the merged wallet is empty now
    raise Busy(f"wallet of {merged_id} kept changing during its merge")


def _stage_move(source: Wallet, dest: Wallet, pending: list[Topup], now: datetime) -> tuple[UnitOfWork, WalletMove]:
    merged_id, target, at = source.member_id, dest.member_id, iso(now)
    moved = WalletMove(target, source.principal, source.bonus, sum(_reserved(t) for t in pending), len(pending))
    tx = UnitOfWork(get_settings().region)
    out = WalletChange(
        EntryKind.MERGE_OUT, f"merge:{merged_id}:out", -moved.principal, -moved.bonus, -moved.pending,
        {"survivor_id": target},
    )  # fmt: skip
    into = WalletChange(
        EntryKind.MERGE_IN, f"merge:{merged_id}:in", moved.principal, moved.bonus, moved.pending,
        {"merged_id": merged_id},
    )  # fmt: skip
    wallet_repo.stage_change(tx, source, out, at, prefix="m:")
    wallet_repo.stage_change(tx, dest, into, at, prefix="s:")
    for topup in pending:
        topups_repo.stage_repoint(tx, topup, merged_id, target)
    return tx, moved


def _reserved(topup: Topup) -> int:
    """What a pending top-up counts towards its wallet's pending total."""
    return topup.amount_fen + topup.bonus_fen


def _add(total: WalletMove, step: WalletMove) -> WalletMove:
    return WalletMove(
        step.survivor_id,
        total.principal + step.principal,
        total.bonus + step.bonus,
        total.pending + step.pending,
        total.topups + step.topups,
    )
