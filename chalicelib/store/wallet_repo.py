"""Wallet persistence (储值): the wallet item and its ledger, staged into a caller's unit of work.

Every change is planned from the wallet as read (domain/wallet.py `apply_change`) and staged
under the version it read: a concurrent change makes the transaction fail on the tag
`<prefix>wallet`, and the caller reads and plans again. So a purse can never go below zero
under any interleaving: a debit is only ever committed against the balance it was planned on.
A checkout stages its debit (`stage_debit`) beside its coupon and points writes, in one
transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from itertools import islice
from typing import Any

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.wallet import (
    EntryKind,
    Purse,
    Split,
    Wallet,
    WalletChange,
    WalletEntry,
    apply_change,
)
from chalicelib.store import member_card_repo
from chalicelib.store.models import WalletEntryModel, WalletModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

WALLET_TAG = "wallet"
_MAX_SEQ = 10**18


def get_wallet(member_id: str) -> Wallet:
    """The member's wallet, or an empty one (version 0) before its first top-up."""
    try:
        item = WalletModel.get(member_id, consistent_read=True)
    except WalletModel.DoesNotExist:
        return Wallet(member_id)
    return Wallet(
        member_id,
        principal=int(item.principal),
        bonus=int(item.bonus),
        pending_fen=int(item.pending_fen),
        seq=int(item.seq),
        version=int(item.version),
    )


def stage_change(tx: UnitOfWork, wallet: Wallet, change: WalletChange, at: str, prefix: str = "") -> Wallet:
    """The wallet (guarded by the version read) and one ledger line per purse moved, tagged
    `<prefix>wallet` and `<prefix>wallet-entry:<seq>`. Returns the wallet as it will be."""
    moved, entries = apply_change(wallet, change, at)
    actions = [
        WalletModel.principal.set(moved.principal),
        WalletModel.bonus.set(moved.bonus),
        WalletModel.pending_fen.set(moved.pending_fen),
        WalletModel.seq.set(moved.seq),
        WalletModel.version.set(moved.version),
        WalletModel.updated_at.set(at),
    ]
    # A wallet is first written by a change: version 0 means "not there yet".
    guard = WalletModel.member_id.does_not_exist() if wallet.version == 0 else WalletModel.version == wallet.version
    tx.update(f"{prefix}{WALLET_TAG}", WalletModel(wallet.member_id), actions=actions, condition=guard)
    for entry in entries:
        item = _entry_to_model(entry)
        tx.put(f"{prefix}wallet-entry:{entry.seq}", item, condition=WalletEntryModel.seq.does_not_exist())
    if moved.balances.total != wallet.balances.total:  # the member card (会员卡) shows the total
        member_card_repo.stage_sync(tx, wallet.member_id, f"wallet:{moved.seq}", at)
    return moved


def stage_debit(
    tx: UnitOfWork,
    wallet: Wallet,
    split: Split,
    ref: str,
    at: str,
    *,
    prefix: str = "wallet:",
    detail: dict[str, object] | None = None,
) -> Wallet:
    """A payment from the wallet (checkout): `split` as domain/wallet.py `plan_spend` planned it
    from this `wallet`. On commit, `wallet_moved(failure, prefix)` says the wallet changed
    since it was read (plan again), and nothing was written."""
    change = WalletChange(EntryKind.SPEND, ref, principal=-split.principal, bonus=-split.bonus, detail=detail)
    return stage_change(tx, wallet, change, at, prefix)


def stage_return(
    tx: UnitOfWork,
    wallet: Wallet,
    split: Split,
    ref: str,
    at: str,
    *,
    prefix: str = "wallet:",
    detail: dict[str, object] | None = None,
) -> Wallet:
    """A payment given back (a checkout cancelled or refunded), to the purses it came from."""
    change = WalletChange(EntryKind.SPEND_RETURN, ref, principal=split.principal, bonus=split.bonus, detail=detail)
    return stage_change(tx, wallet, change, at, prefix)


def wallet_moved(failure: TransactionFailed, prefix: str = "") -> bool:
    return failure.failed(f"{prefix}{WALLET_TAG}")


def list_entries(member_id: str, limit: int, cursor: str | None) -> tuple[list[WalletEntry], str | None]:
    """Newest first; the cursor names the sequence number of the last line handed out."""
    before = _decode_cursor(cursor) if cursor else None
    condition = WalletEntryModel.seq < before if before is not None else None
    results = WalletEntryModel.query(member_id, range_key_condition=condition, scan_index_forward=False, limit=limit)
    entries = [_entry_from_model(item) for item in islice(results, limit)]
    more = len(entries) == limit and entries[-1].seq > 1
    return entries, _encode_cursor(entries[-1].seq) if more else None


def iter_entries(member_id: str) -> Iterator[WalletEntry]:
    for item in WalletEntryModel.query(member_id, consistent_read=True):
        yield _entry_from_model(item)


def iter_wallet_member_ids() -> Iterator[str]:
    """Every member who has a wallet (reconciliation's full pass; nothing else scans)."""
    for item in WalletModel.scan(attributes_to_get=["member_id"]):
        yield item.member_id


def _encode_cursor(seq: int) -> str:
    """base64url of `{"seq":N}`: the shape of every cursor the API hands out (docs_rules)."""
    return base64.urlsafe_b64encode(json.dumps({"seq": seq}, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str) -> int:
    """Only a cursor this listing could have handed out; anything else is 400 naming it."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, RecursionError) as error:
        raise InvalidInput("cursor is not valid", field="cursor") from error
    seq = key.get("seq") if isinstance(key, dict) and set(key) == {"seq"} else None
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= _MAX_SEQ:
        raise InvalidInput("cursor is not valid", field="cursor")
    return seq


def _entry_to_model(entry: WalletEntry) -> WalletEntryModel:
    return WalletEntryModel(
        entry.member_id,
        entry.seq,
        purse=str(entry.purse),
        kind=str(entry.kind),
        delta=entry.delta,
        balance_after=entry.balance_after,
        ref=entry.ref,
        created_at=entry.created_at,
        detail=entry.detail or None,
    )


def _entry_from_model(item: WalletEntryModel) -> WalletEntry:
    detail: dict[str, Any] = dict(item.detail or {})
    return WalletEntry(
        member_id=item.member_id,
        seq=int(item.seq),
        purse=Purse(item.purse),
        kind=EntryKind(item.kind),
        delta=int(item.delta),
        balance_after=int(item.balance_after),
        ref=item.ref,
        created_at=item.created_at,
        detail=detail,
    )
