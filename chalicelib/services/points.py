"""Points engine use cases: earn, redeem, reverse, adjust, expire.

Every operation reads the member (and its lots when it takes points), plans the change
with pure domain rules, and commits it as one transaction guarded by the member's
version. A stale plan is planned again; a ledger entry that already exists under the
operation's idempotency key means the operation already happened, and its original
result is returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from chalicelib.clock import iso, local_date, utc_now
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.errors import Busy, DomainError, IdempotencyConflict, InsufficientPoints, InvalidInput
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.ledger import (
    NO_NOTE,
    ApprovalMark,
    EntryNote,
    LedgerEntry,
    PendingMove,
    PointsChange,
    RefundMark,
    fingerprint,
)
from chalicelib.domain.members import Member
from chalicelib.domain.points import (
    ExpiryPolicy,
    LotTake,
    PointsLot,
    parse_expiry_policy,
    plan_consumption,
    split_earning,
)
from chalicelib.domain.tiers import TierState, month_key
from chalicelib.retry import backoff
from chalicelib.services import tiers
from chalicelib.settings import get_settings
from chalicelib.store import audit_repo, members_repo, points_repo

Planner = Callable[[Member, list[PointsLot]], PointsChange | None]
# Two members' changes in one transaction (a gift, a referral's two rewards).
PairPlanner = Callable[[Member, list[PointsLot], Member, list[PointsLot]], tuple[PointsChange, PointsChange]]
# Adds to (or refuses) a planned change, on every attempt: e.g. the adjustment limits.
Decorator = Callable[[Member, PointsChange], PointsChange]


@dataclass(frozen=True)
class Operation:
    """Who asks for which change, under which idempotency key."""

    entry_id: str
    request: dict[str, Any]
    now: datetime
    key_field: str = "Idempotency-Key"  # what a reuse with another request names

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.request)

    @property
    def today(self) -> date:
        return local_date(self.now, get_settings().timezone)


def operation(
    entry_id: str, request: dict[str, Any], now: datetime | None = None, *, key_field: str = "Idempotency-Key"
) -> Operation:
    return Operation(entry_id, request, now or utc_now(), key_field)


def redeem_for_member(member_id: str, points: int, reason: str, idempotency_key: str, now: datetime) -> LedgerEntry:
    """A member spends points (积分兑换), once per Idempotency-Key."""
    op = operation(keys.redeem_entry(member_id, idempotency_key), {"points": points, "reason": reason}, now)
    return redeem(member_id, points, op, note=EntryNote(reason=reason))


def earn(
    member_id: str,
    points: int,
    op: Operation,
    *,
    kind: str = kinds.EARN,
    decorate: Decorator | None = None,
    note: EntryNote = NO_NOTE,
    approval: ApprovalMark | None = None,
) -> LedgerEntry:
    return earn_with_growth(member_id, points, 0, op, kind=kind, decorate=decorate, note=note, approval=approval)


def earn_with_growth(
    member_id: str,
    points: int,
    growth: int,
    op: Operation,
    *,
    kind: str = kinds.EARN,
    earned_on: date | None = None,
    expiry: ExpiryPolicy | None = None,
    pending_until: date | None = None,
    decorate: Decorator | None = None,
    note: EntryNote = NO_NOTE,
    approval: ApprovalMark | None = None,
) -> LedgerEntry:
    """Growth (成长值) rides in the same transaction, into the month of `earned_on`, and so does
    the tier the programme's window earns (upgrades only); the entry's detail records
    `growth_month` (refunds take from it) and `tier: {from, to}` so a replay can re-announce it.
    The lot is dated by `earned_on` (an order's paid day), or by the day of the operation.

    With `pending_until` (an order's return window, 冻结期) the points are held, not spendable:
    the entry moves no balance and records `pending`; the release (services/pending.py) adds
    them to the lot on that day, repaying debt first then, not now."""
    _require_non_negative(points)
    # The caller's policy (an order's programme, taken at its entry), else the programme in force.
    expires_on = (expiry or expiry_in_force()).expires_on(earned_on or op.today)
    tier_rules = tiers.rules() if growth else None  # the programme in force: window, thresholds, review
    growth_month = month_key(earned_on or op.today)

    def plan(member: Member, _lots: list[PointsLot]) -> PointsChange:
        held = None
        if pending_until is not None and points:
            held = PendingMove(op.entry_id, member.member_id, points, release_on=pending_until, expires_on=expires_on)
        repaid, into_lot = (0, 0) if held else split_earning(points, member.debt)
        new_tier, tier_state = None, None
        detail = dict(note.detail)
        if tier_rules is not None:
            new_tier, tier_state = tiers.growth_after(member, growth, growth_month, op.today, tier_rules)
            detail["growth_month"] = growth_month
        if new_tier is not None:
            detail["tier"] = {"from": member.tier_code, "to": new_tier}
        if held is not None:
            detail |= {"pending": points, "release_on": str(pending_until)}
        planned = change(
            op,
            member,
            kind,
            0 if held else points,
            new_debt=member.debt - repaid,
            lot_adds={expires_on: into_lot} if into_lot else {},
            growth_delta=growth,
            tier_code=new_tier,
            tier_state=tier_state,
            note=replace(note, detail=detail),
            approval=approval,
            pending=held,
        )
        return decorate(member, planned) if decorate else planned

    return apply(member_id, op, plan, reads_lots=False)


def redeem(
    member_id: str,
    points: int,
    op: Operation,
    *,
    kind: str = kinds.REDEEM,
    decorate: Decorator | None = None,
    note: EntryNote = NO_NOTE,
    approval: ApprovalMark | None = None,
) -> LedgerEntry:
    if points <= 0:
        raise InvalidInput("points must be positive", field="points")

    def plan(member: Member, lots: list[PointsLot]) -> PointsChange:
        if points > member.balance:
            raise InsufficientPoints(f"need {points}, have {member.balance}")
        takes = plan_consumption(lots, points, op.today)
        planned = change(op, member, kind, -points, lot_takes=takes, note=note, approval=approval)
        if kind == kinds.REDEEM:
            record = planned.entry
            data = {"points": points, "balance": record.balance_after, "reason": record.reason}
            planned.events = (entry_event(record, "points.redeemed", data),)
        return decorate(member, planned) if decorate else planned

    return apply(member_id, op, plan, reads_lots=True)


def entry_event(entry: LedgerEntry, kind: str, data: dict[str, Any]) -> DomainEvent:
    """An event caused by a ledger entry: its id is the entry's (the idempotency key) + kind,
    written to the outbox with the entry: a replayed request, which writes nothing, adds none."""
    return DomainEvent(f"{entry.entry_id}#{kind}", kind, entry.member_id, entry.created_at, data)


def change(
    op: Operation,
    member: Member,
    kind: str,
    delta: int,
    *,
    new_debt: int | None = None,
    lot_adds: dict[date, int] | None = None,
    lot_takes: list[LotTake] | None = None,
    refund: RefundMark | None = None,
    approval: ApprovalMark | None = None,
    growth_delta: int = 0,
    tier_code: str | None = None,
    tier_state: TierState | None = None,
    growth_month: str | None = None,
    note: EntryNote = NO_NOTE,
    pending: PendingMove | None = None,
) -> PointsChange:
    """The one place a ledger entry is built. Growth moves its month's bucket too (`growth_month`;
    a refund's is the order's, else the day's), unless the caller planned the tier state."""
    if tier_state is None and growth_delta:
        tier_state = tiers.growth_moved(member, growth_delta, growth_month, op.today, refund=refund)
    debt = member.debt if new_debt is None else new_debt
    balance = member.balance + delta
    record = LedgerEntry(
        entry_id=op.entry_id,
        member_id=member.member_id,
        seq=member.ledger_seq + 1,
        kind=kind,
        delta=delta,
        balance_after=balance,
        debt_after=debt,
        created_at=iso(op.now),
        fingerprint=op.fingerprint,
        reason=note.reason,
        source=note.source,
        operator=note.operator,
        detail=dict(note.detail),
        refunded_fen=note.refunded_fen,
    )
    return PointsChange(
        member_id=member.member_id,
        expected_version=member.version,
        entry=record,
        new_balance=balance,
        new_debt=debt,
        lot_adds=lot_adds or {},
        lot_takes=lot_takes or [],
        refund=refund,
        approval=approval,
        growth_delta=growth_delta,
        tier_code=tier_code,
        tier_state=tier_state,
        pending_delta=pending.points if pending else 0,
        pending_move=pending,
        card_holder=member.card_code is not None,
    )


def apply(member_id: str, op: Operation, plan: Planner, *, reads_lots: bool) -> LedgerEntry:
    entry = apply_optional(member_id, op, plan, reads_lots=reads_lots)
    if entry is None:
        raise InvalidInput("nothing to do")
    return entry


def apply_optional(member_id: str, op: Operation, plan: Planner, *, reads_lots: bool) -> LedgerEntry | None:
    attempts = get_settings().tx_max_attempts
    for attempt in range(attempts):
        # A merged member's points live on its survivor (会员合并): follow `merged_into`.
        member = members_repo.get_live_member(member_id)
        lots = points_repo.load_lots(member.member_id) if reads_lots else []
        if reads_lots and sum(lot.remaining for lot in lots) - member.debt != member.balance:
            backoff(attempt)  # the lots were read after a commit the member read missed: read both again
            continue
        try:
            change = plan(member, lots)
        except DomainError:
            # A replay may no longer be plannable (the points were spent since): the
            # recorded outcome wins over today's rules.
            replayed = replay(op)
            if replayed is not None:
                return replayed
            raise
        if change is None:
            return replay(op)
        _describe(member, change)
        try:
            points_repo.commit(change)
            return change.entry
        except points_repo.DuplicateEntry:
            return replay(op)
        except points_repo.StaleRead:
            backoff(attempt)
    raise Busy(f"member {member_id} busy after {attempts} attempts")


def apply_pair(
    member_id: str, peer_id: str, op: Operation, plan: PairPlanner, *, reads_lots: bool, peer_reads_lots: bool
) -> LedgerEntry:
    """Two members' changes, committed in one transaction or not at all: the first member's
    entry carries the operation's key (a replay answers with it); the peer's, staged beside it
    under the tag prefix `peer:`, takes an id the plan derives from that key, so it exists
    exactly when the first does. Both members are read afresh on every attempt, each guarded
    by its version; a peer that merged into the first member is the same person (refused)."""

    def first(member: Member, lots: list[PointsLot]) -> PointsChange:
        peer = members_repo.get_live_member(peer_id)
        if peer.member_id == member.member_id:
            raise InvalidInput("the two members are one", field="member")
        peer_lots = points_repo.load_lots(peer.member_id) if peer_reads_lots else []
        change, peer_change = plan(member, lots, peer, peer_lots)
        change.joins = (*change.joins, lambda tx: points_repo.add_change(tx, peer_change, "peer:"))
        return change

    return apply(member_id, op, first, reads_lots=reads_lots)


def _describe(member: Member, change: PointsChange) -> None:
    """The audit trail's before/after of an operator's points change (a no-op elsewhere)."""
    audit_repo.describe(
        target=f"member:{member.member_id}",
        before={"balance": member.balance, "debt": member.debt},
        after={"balance": change.new_balance, "debt": change.new_debt, "points": change.entry.delta,
               "kind": change.entry.kind, "entry_id": change.entry.entry_id},
    )  # fmt: skip


def replay(op: Operation) -> LedgerEntry | None:
    existing = points_repo.get_entry(op.entry_id)
    if existing is not None and existing.fingerprint != op.fingerprint:
        raise IdempotencyConflict(f"{op.key_field} was used for a different request", field=op.key_field)
    return existing


def expiry_in_force() -> ExpiryPolicy:
    from chalicelib.services import programme

    return parse_expiry_policy(programme.current().points.expiry)


def _require_non_negative(points: int) -> None:
    if points < 0:
        raise InvalidInput("points must not be negative", field="points")
