"""Closing an account (会员注销, PIPL art. 47): personal data erased, the points ledger kept
under the anonymous member id, which stays as a tombstone (status `deleted`).

The rules:
- Points and debt: the balance is forfeited and any debt (欠分) forgiven by one closing ledger
  entry per step (`close:<member>:<seq>`, kind adjust, reason `account_closed`) through the
  points engine; the lots go with it. Balance == Σ ledger and Σ lots − debt == balance hold, so
  reconciliation stays clean, and the expiry jobs find nothing of the account any more.
- Stored value (储值): refused (409 `wallet_not_empty`, …) while principal, a pending top-up or a
  refund under way is the member's to get back; bonus alone is forfeited (services/wallet_closing.py).
- Merges: accounts merged into the member (会员合并) are the same person and are erased with it.
  A merge still running (started, not done) refuses the closing with 409 `privacy_merge_pending`
  until it finishes; merge requests and adjustments still waiting for a second operator are
  rejected (驳回), so no approval can move points or aliases onto the closed account.
- Identity items (unionid, openids, WeChat Work contact, phone hash, card) are deleted: the same
  WeChat user may register again, as a new member. Subscribe-message consents are dropped, and
  the outbox is purged of events naming the account; messages still queued find no channel.
- Check-ins (签到): the days and the streak summary stay under the anonymous member id, as the
  ledger does, whose check-in entries name the same days; they hold nothing else of the person.

Resumable: each round reads where the account stands (`status` deleting and the progress in
`deletion` on the member item) and does what is left. A member with no points needs one
transaction; one with points three (erase, close the points, final), each at most 25 actions.
Idempotent: once closed, a repeat answers what the closing did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.approvals import ApprovalStatus
from chalicelib.domain.errors import Busy, MemberNotFound, MergeConflict
from chalicelib.domain.ledger import TX_MAX_ITEMS, EntryNote, PointsChange
from chalicelib.domain.members import Member, MemberStatus, MergeStatus, PrivacyState
from chalicelib.domain.points import LotTake, PointsLot
from chalicelib.services import points, privacy
from chalicelib.settings import get_settings
from chalicelib.store import approvals_repo, audit_repo, merge_repo, points_repo, privacy_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork

if TYPE_CHECKING:
    from chalicelib.services.wallet_closing import WalletClosing

CHUNK = TX_MAX_ITEMS - 2  # + the member item + the audit entry: 25, the embedded moto's limit (AWS: 100)
LOTS_PER_STEP = TX_MAX_ITEMS - 5  # + member, entry, audit: a closing step fits one transaction
MAX_ROUNDS = 8
CLOSED_REASON = "account_closed"
REJECTION_REASON = "会员已注销 (account closed)"
Op = tuple[str, Callable[[UnitOfWork], None]]  # (what it counts as, how it stages itself)


@dataclass(frozen=True)
class DeletionResult:
    member_id: str
    status: MemberStatus
    deleted_at: str | None
    counts: dict[str, int]  # aliases, consents, merged_accounts, requests, points_forfeited, debt_forgiven


def delete_member(member_id: str, requested_by: str, now: datetime, *, reason: str | None = None) -> DeletionResult:
    """`requested_by`: the operator, or `member:<id>` for the member's own request; `reason`
    (the operator's ticket) goes to the audit trail only, never onto the tombstone."""
    live = privacy.live_member_id(member_id)
    purged = False
    for _ in range(MAX_ROUNDS):
        found = privacy_repo.state(live)
        if found is None:
            raise MemberNotFound(member_id)
        if found.closed:
            return _result(live, found.deletion)
        _refuse_pending_merge(live)
        merged = privacy_repo.merged_accounts(live)
        _refuse_money_left(live, merged, now)
        aliases = _aliases(live, merged)
        if not purged:
            _purge_outbox(live, merged, aliases)
            purged = True
        _describe(live, found, aliases, merged, reason)
        _erase_addresses([live, *merged])
        progress = _progress(found, requested_by, now)
        _reject_requests(live, requested_by, now)
        try:
            _erase_round(live, merged, aliases, progress, now)
        except TransactionFailed as failure:
            if not (failure.refused or failure.retryable):
                raise  # a concurrent change (an alias moved, points earned): plan again
    raise Busy(f"closing {live} kept meeting concurrent changes")


def _erase_addresses(member_ids: list[str]) -> None:
    """Delivery addresses of mall gifts no longer waiting to ship (a pending one keeps its
    address until it is shipped or cancelled). Imported here: pydantic stays off the cold start."""
    from chalicelib.store import mall_redemptions_repo

    for member_id in member_ids:
        mall_redemptions_repo.erase_addresses(member_id)


def _erase_round(
    live: str, merged: list[str], aliases: dict[str, str], progress: dict[str, Any], now: datetime
) -> None:
    ops: list[Op] = [("aliases", _release(alias, owner)) for alias, owner in aliases.items()]
    for member_id in [live, *merged]:
        ops += [("consents", _drop(member_id, template)) for template in privacy_repo.consent_templates(member_id)]
    ops += [("merged_accounts", _erase_merged(other, live, now)) for other in merged if _open(other)]
    ops += [("member_cards", _forget_card(member_id)) for member_id in [live, *merged] if _holds_card(member_id)]
    wallets = _wallet_closing(live, merged, now)
    if not _holds_points(live) and len(ops) + wallets.items <= CHUNK:
        final = _counted(progress, ops) | _closing(live) | {"requests": _rejected(live), "deleted_at": iso(now)}
        final["wallet_bonus_forfeited"] = wallets.bonus_forfeited
        _commit([*ops, ("wallets", wallets.stage)], _erase_live(live, MemberStatus.DELETED, final, now))
        return
    for start in range(0, max(len(ops), 1), CHUNK):
        chunk = ops[start : start + CHUNK]
        progress = _counted(progress, chunk)
        _commit(chunk, _erase_live(live, MemberStatus.DELETING, progress, now))
    _close_points(live, now)


def _refuse_money_left(live: str, merged: list[str], now: datetime) -> None:
    """储值: 409 while principal, a pending top-up or a refund under way is the member's to get
    back (services/wallet_closing.py). Imported here: pydantic stays off the cold start."""
    from chalicelib.services import wallet_closing

    wallet_closing.refuse_unless_empty(live, merged, now)


def _wallet_closing(live: str, merged: list[str], now: datetime) -> WalletClosing:
    """The final transaction's wallet writes: bonus forfeited, every wallet under its version."""
    from chalicelib.services import wallet_closing

    return wallet_closing.plan(live, merged, now)


def _commit(ops: list[Op], member_op: Callable[[UnitOfWork], None]) -> None:
    uow = UnitOfWork(get_settings().region)
    member_op(uow)
    for _, stage in ops:
        stage(uow)
    uow.commit()


def _release(alias: str, owner: str) -> Callable[[UnitOfWork], None]:
    return lambda uow: privacy_repo.stage_release_alias(uow, alias, owner)


def _holds_card(member_id: str) -> bool:
    from chalicelib.store import member_card_repo

    return member_card_repo.get(member_id) is not None


def _forget_card(member_id: str) -> Callable[[UnitOfWork], None]:
    """The member card record (会员卡: its code, what we pushed) goes with the account."""
    from chalicelib.store import member_card_repo

    return lambda uow: member_card_repo.stage_forget(uow, member_id)


def _drop(member_id: str, template_id: str) -> Callable[[UnitOfWork], None]:
    return lambda uow: privacy_repo.stage_drop_consent(uow, member_id, template_id)


def _erase_merged(member_id: str, live: str, now: datetime) -> Callable[[UnitOfWork], None]:
    deletion = {"closed_with": live, "deleted_at": iso(now)}
    return lambda uow: privacy_repo.stage_erase(
        uow, member_id, MemberStatus.DELETED, deletion, merged=True, now=iso(now)
    )


def _erase_live(
    live: str, status: MemberStatus, deletion: dict[str, Any], now: datetime
) -> Callable[[UnitOfWork], None]:
    return lambda uow: privacy_repo.stage_erase(uow, live, status, deletion, merged=False, now=iso(now))


def _counted(progress: dict[str, Any], ops: list[Op]) -> dict[str, Any]:
    counted = dict(progress)
    for kind, _ in ops:
        counted[kind] = int(counted.get(kind, 0)) + 1
    return counted


def _open(member_id: str) -> bool:
    found = privacy_repo.state(member_id)
    return found is not None and not found.closed


def _aliases(live: str, merged: list[str]) -> dict[str, str]:
    """alias → the member it names, for the account and the accounts merged into it."""
    known: list[str] = []
    for member_id in [live, *merged]:
        item = privacy_repo.member_item(member_id) or {}
        known += privacy_repo.item_aliases(item)
    return {row["alias"]: row["member_id"] for row in privacy_repo.identities([live, *merged], known)}


def _purge_outbox(live: str, merged: list[str], aliases: dict[str, str]) -> None:
    values = [alias.partition(":")[2] for alias in aliases]
    privacy_repo.purge_outbox([live, *merged], [value for value in values if value])


def _describe(live: str, found: PrivacyState, aliases: dict[str, str], merged: list[str], reason: str | None) -> None:
    """The audit entry's summary: counts and kinds only, never the values."""
    kinds_held = sorted({alias.partition(":")[0] for alias in aliases})
    before = {"status": str(found.status), "alias_kinds": kinds_held, "merged_accounts": len(merged)}
    after = {"status": str(MemberStatus.DELETED), "reason": reason}
    audit_repo.describe(target=f"member:{live}", before=before, after=after)


def _progress(found: PrivacyState, requested_by: str, now: datetime) -> dict[str, Any]:
    if found.deletion.get("requested_at"):
        return dict(found.deletion)
    return {"requested_at": iso(now), "requested_by": requested_by}


def _refuse_pending_merge(live: str) -> None:
    """A merge that started moves points and aliases onto its survivor: let it finish first."""
    merging = [live]
    merging += [
        str(approval.detail.get("merged_id"))
        for approval in approvals_repo.for_member(live)
        if approval.kind == "merge" and approval.status == ApprovalStatus.APPROVED
    ]
    for merged_id in merging:
        record = merge_repo.get(merged_id)
        if record is not None and record.status == MergeStatus.STARTED:
            raise MergeConflict("a merge of this account is under way", field="member_id", code="privacy_merge_pending")


def _reject_requests(live: str, requested_by: str, now: datetime) -> None:
    """Requests waiting for a second operator that concern the account are rejected (驳回)."""
    for approval in approvals_repo.for_member(live):
        if approval.status == ApprovalStatus.PENDING:
            approvals_repo.reject(approval, requested_by, REJECTION_REASON, iso(now))


def _rejected(live: str) -> int:
    """The requests the closing rejected, read back: the same count whichever run finished it."""
    return sum(1 for a in approvals_repo.for_member(live) if a.rejection_reason == REJECTION_REASON)


def _holds_points(member_id: str) -> bool:
    found = privacy_repo.member_item(member_id) or {}
    return bool(found.get("balance") or found.get("debt") or points_repo.load_lots(member_id))


def _close_points(member_id: str, now: datetime) -> None:
    """Forfeit the balance and forgive the debt, a step per LOTS_PER_STEP lots, through the
    points engine (version-guarded, idempotent by entry id)."""
    for _ in range(MAX_ROUNDS * 4):
        seq = int((privacy_repo.member_item(member_id) or {}).get("ledger_seq") or 0)
        op = points.operation(keys.key("close", member_id, str(seq)), {"close": member_id}, now)
        if points.apply_optional(member_id, op, _close_step(op), reads_lots=True) is None:
            return
    raise Busy(f"closing the points of {member_id} kept meeting concurrent changes")


def _close_step(op: points.Operation) -> Callable[[Member, list[PointsLot]], PointsChange | None]:
    def plan(member: Member, lots: list[PointsLot]) -> PointsChange | None:
        if not lots and member.balance == 0 and member.debt == 0:
            return None
        batch = sorted(lots, key=lambda lot: lot.expires_on)[:LOTS_PER_STEP]
        final = len(batch) == len(lots)
        taken = sum(lot.remaining for lot in batch)
        takes = [LotTake(lot.expires_on, lot.remaining, lot.remaining) for lot in batch]
        forgiven = member.debt if final else 0
        detail = {"forfeited": taken, "debt_forgiven": forgiven, "lots": len(batch)}
        note = EntryNote(reason=CLOSED_REASON, source="privacy", detail=detail)
        delta = -member.balance if final else -taken
        new_debt = 0 if final else member.debt
        return points.change(op, member, kinds.ADJUST, delta, new_debt=new_debt, lot_takes=takes, note=note)

    return plan


def _closing(member_id: str) -> dict[str, int]:
    """What the closing entries forfeited and forgave, read back from the ledger."""
    entries = [
        entry
        for entry in points_repo.iter_member_entries(member_id, kind=kinds.ADJUST)
        if entry.reason == CLOSED_REASON and entry.entry_id.startswith("close:")
    ]
    return {
        "points_forfeited": sum(int(entry.detail.get("forfeited", 0)) for entry in entries),
        "debt_forgiven": sum(int(entry.detail.get("debt_forgiven", 0)) for entry in entries),
    }


def _result(member_id: str, deletion: dict[str, Any]) -> DeletionResult:
    names = ("aliases", "consents", "merged_accounts", "requests", "points_forfeited", "debt_forgiven")
    counts = {name: int(deletion.get(name, 0)) for name in names}
    return DeletionResult(member_id, MemberStatus.DELETED, deletion.get("deleted_at"), counts)
