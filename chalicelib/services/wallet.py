"""Stored value (储值) use cases that are not WeChat Pay's: the member's view of their wallet,
the one commit loop every wallet change goes through, and reconciliation.

`commit_with_wallet` reads the wallet, lets the use case stage its writes against that read
(it must read anything else it decides on inside, afresh on each attempt), and commits once;
when another change moved the wallet in between, it reads and plans again. A checkout does the
same with `wallet_repo.stage_debit` in its own transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from chalicelib.clock import iso, local_date
from chalicelib.domain.errors import Busy
from chalicelib.domain.topups import Topup
from chalicelib.domain.wallet import Balances, Purse, Split, Wallet, WalletEntry, plan_spend
from chalicelib.domain.wallet_rules import TopupRule, WalletRules, rules_in_force
from chalicelib.retry import backoff
from chalicelib.services import programme
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, topups_repo, wallet_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork

R = TypeVar("R")
# Pending top-ups are minutes old (the settle job closes the unpaid): the view reads a day back.
PENDING_SHOWN = timedelta(days=1)


def commit_with_wallet(
    member_id: str, stage: Callable[[UnitOfWork, Wallet, int], R], also_retry: tuple[str, ...] = ()
) -> R:
    """`stage(tx, wallet, attempt)` stages the use case's writes (or none) and returns its
    result; raised domain errors leave everything unwritten. A refusal on a tag of `also_retry`
    is planned again too (the stage reads that item afresh when `attempt` > 0); on any other
    tag it is the caller's to read (`TransactionFailed.failed(tag)`)."""
    settings = get_settings()
    for attempt in range(settings.tx_max_attempts):
        wallet = wallet_repo.get_wallet(member_id)
        tx = UnitOfWork(settings.region)
        result = stage(tx, wallet, attempt)
        try:
            tx.commit()
            return result
        except TransactionFailed as failure:
            moved = wallet_repo.wallet_moved(failure) or any(failure.failed(tag) for tag in also_retry)
            if not (moved or failure.retryable):
                raise
            backoff(attempt)
    raise Busy(f"wallet of {member_id} busy after {settings.tx_max_attempts} attempts")


@dataclass(frozen=True)
class WalletView:
    member_id: str
    balances: Balances
    pending: list[Topup]
    entries: list[WalletEntry]
    next_cursor: str | None
    rules: WalletRules
    offers: list[TopupRule]


def view(caller: str, limit: int, cursor: str | None, now: datetime) -> WalletView:
    """`GET /v1/wallet`: balances, pending top-ups (not yet credited), a page of the ledger and
    the top-up offers in force today."""
    member = members_repo.get_live_member(caller)
    wallet = wallet_repo.get_wallet(member.member_id)
    entries, next_cursor = wallet_repo.list_entries(member.member_id, limit, cursor)
    rules = programme.current().wallet
    today = local_date(now, get_settings().timezone)
    pending = topups_repo.pending_of_member(member.member_id, since=iso(now - PENDING_SHOWN))
    offers = rules_in_force(rules, today) if rules.enabled else []
    return WalletView(member.member_id, wallet.balances, pending, entries, next_cursor, rules, offers)


def plan_payment(member_id: str, amount_fen: int) -> tuple[Wallet, Split]:
    """What paying `amount_fen` from the wallet would take from each purse now, by the
    programme's spending order (a checkout's quote; its confirm stages the split it planned)."""
    wallet = wallet_repo.get_wallet(member_id)
    return wallet, plan_spend(wallet.balances, amount_fen, programme.current().wallet.spend_order)


@dataclass(frozen=True)
class WalletMismatch:
    member_id: str
    principal: int
    bonus: int
    principal_ledger: int
    bonus_ledger: int
    problem: str


def reconcile_wallet(member_id: str) -> WalletMismatch | None:
    """对账: each purse == Σ its ledger, each line's balance_after follows from the line before,
    nothing below zero, the sequence unbroken, and the pending total == Σ pending top-ups."""
    wallet = wallet_repo.get_wallet(member_id)
    running = {Purse.PRINCIPAL: 0, Purse.BONUS: 0}
    problems: list[str] = []
    seq = 0
    for entry in wallet_repo.iter_entries(member_id):
        seq += 1
        running[entry.purse] += entry.delta
        if entry.seq != seq:
            problems.append(f"ledger sequence broken at {entry.seq}")
        if entry.balance_after != running[entry.purse] or entry.balance_after < 0:
            problems.append(f"{entry.purse} line {entry.seq} does not follow")
    if wallet.principal != running[Purse.PRINCIPAL]:
        problems.append("principal != sum of principal ledger")
    if wallet.bonus != running[Purse.BONUS]:
        problems.append("bonus != sum of bonus ledger")
    if wallet.seq != seq:
        problems.append("wallet seq != ledger lines")
    pending = sum(t.amount_fen + t.bonus_fen for t in topups_repo.pending_of_member(member_id))
    if wallet.pending_fen != pending or wallet.principal < 0 or wallet.bonus < 0:
        problems.append("pending != sum of pending top-ups, or a purse below zero")
    if not problems:
        return None
    principal_sum, bonus_sum = running[Purse.PRINCIPAL], running[Purse.BONUS]
    return WalletMismatch(member_id, wallet.principal, wallet.bonus, principal_sum, bonus_sum, "; ".join(problems))


def reconcile_wallets(member_ids: Iterable[str] | None = None) -> Iterator[WalletMismatch]:
    """Every wallet (or those of `member_ids`), for `chalicelib.cli reconcile`."""
    for member_id in member_ids if member_ids is not None else wallet_repo.iter_wallet_member_ids():
        mismatch = reconcile_wallet(member_id)
        if mismatch is not None:
            yield mismatch
