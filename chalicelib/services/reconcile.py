"""Reconciliation (对账): balance == Σ ledger, and Σ lots − debt == balance, for every member;
pending points (冻结期) == Σ the member's pending orders, never negative; a member merged into
another (会员合并) holds nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from chalicelib.store import members_repo, pending_repo, points_repo


@dataclass(frozen=True)
class Mismatch:
    member_id: str
    balance: int
    ledger_sum: int
    lots_sum: int
    debt: int
    problem: str


def reconcile_member(member_id: str) -> Mismatch | None:
    member = members_repo.get_member(member_id)
    ledger_sum = sum(entry.delta for entry in points_repo.iter_member_entries(member_id))
    lots = points_repo.load_lots(member_id)
    lots_sum = sum(lot.remaining for lot in lots)
    problems = []
    if member.balance != ledger_sum:
        problems.append("balance != sum of ledger")
    if lots_sum - member.debt != member.balance:
        problems.append("sum of lots - debt != balance")
    if any(lot.remaining < 0 for lot in lots):
        problems.append("negative lot")
    if member.balance < 0 and member.debt == 0:
        problems.append("negative balance without reversal debt")
    held = sum(item.remaining for item in pending_repo.of_member(member_id))
    if member.pending != held or member.pending < 0:
        problems.append("pending != sum of pending orders")
    if member.merged_into and (member.balance or member.debt or lots_sum or member.pending):
        problems.append("merged member still holds points")
    if not problems:
        return None
    return Mismatch(member_id, member.balance, ledger_sum, lots_sum, member.debt, "; ".join(problems))


def reconcile(member_ids: Iterable[str] | None = None) -> Iterator[Mismatch]:
    for member_id in member_ids if member_ids is not None else members_repo.iter_member_ids():
        mismatch = reconcile_member(member_id)
        if mismatch is not None:
            yield mismatch
