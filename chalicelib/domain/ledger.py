"""The points ledger (积分流水), the shape of one atomic points change, and the steps of a
member merge (会员合并) as points changes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from chalicelib.domain.adjustments import Grant
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.members import Member
from chalicelib.domain.points import LotTake, PointsLot, merge_lots
from chalicelib.domain.tier_review import merged_state
from chalicelib.domain.tiers import TierState

EARN = "earn"
REDEEM = "redeem"
REVERSE = "reverse"
ADJUST = "adjust"
EXPIRE = "expire"
MERGE = "merge"
GRANT = "grant"  # one member's share of a bulk grant (批量发放积分, domain/grants.py)
IMPORT = "import"  # a legacy account's opening balance (会员导入, domain/imports_plan.py)
CHECKIN = "checkin"  # a day's check-in (签到, domain/checkins.py)
CHECKIN_MAKEUP = "checkin_makeup"  # a make-up (补签): its pay less its price, in one entry
ACTION = "action"  # a member action the brand's server reported (行为积分, services/actions.py)
RELEASE = "release"  # pending order points whose return window passed (冻结期, services/pending.py)
REFERRAL = "referral"  # a referral reward, to the referrer or the invitee (邀请有礼, services/referrals.py)
GIFT_OUT = "gift_out"  # points given to another member (积分转赠, services/gifts.py)
GIFT_IN = "gift_in"  # points received from another member, with the giver's expiry dates
MALL_REFUND = "mall_refund"  # a cancelled mall redemption's points, back into their lots (services/mall_cancel.py)
CHECKOUT = "checkout"  # points deducted at a checkout (积分抵扣, services/checkout.py); 0 when none were
CHECKOUT_CANCEL = "checkout_cancel"  # a cancelled checkout's points, back into their lots
CHECKOUT_REFUND = "checkout_refund"  # a checked-out order refunded: its points back, its earned points clawed back

# DynamoDB took 25 items per transaction until 2022 (100 since); the embedded moto still does.
TX_MAX_ITEMS = 25


@dataclass(frozen=True)
class LedgerEntry:
    entry_id: str
    member_id: str
    seq: int
    kind: str
    delta: int
    balance_after: int
    created_at: str
    fingerprint: str
    debt_after: int = 0
    reason: str | None = None
    source: str | None = None
    operator: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    refunded_fen: int | None = None


@dataclass(frozen=True)
class EntryNote:
    """What a ledger entry says beyond its numbers: why (reason), where (source, e.g. the
    store), who (operator), the operation's detail, and an order's refund tally."""

    reason: str | None = None
    source: str | None = None
    operator: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    refunded_fen: int | None = None


NO_NOTE = EntryNote()


@dataclass(frozen=True)
class RefundMark:
    """Moves an order entry's refund tally from `before` to `after` (guarded by `before`)."""

    order_entry_id: str
    refunded_fen_before: int
    refunded_fen_after: int
    order_detail: dict[str, Any] | None = None  # the order's detail after: its lines' refund tallies


@dataclass(frozen=True)
class ApprovalMark:
    approval_id: str
    decided_by: str
    decided_at: str


@dataclass(frozen=True)
class PendingMove:
    """One order's pending points (冻结期) moved: added by the order (`remaining_before` 0, with
    the day they are released and the lot date they will join), taken by a refund inside the
    return window or by the release. Guarded by what the plan read (`remaining_before`)."""

    order_entry_id: str
    member_id: str  # the member the order earned for (a merged member's orders keep its id)
    points: int  # + added, - taken
    remaining_before: int = 0
    release_on: date | None = None
    expires_on: date | None = None

    @property
    def empties(self) -> bool:
        return self.points < 0 and -self.points == self.remaining_before


@dataclass
class PointsChange:
    """Everything one points operation writes, committed in a single transaction.

    `expected_version` is the member version the plan was made from: if anything changed
    the member since, the commit fails and the operation is planned again."""

    member_id: str
    expected_version: int
    entry: LedgerEntry
    new_balance: int
    new_debt: int
    growth_delta: int = 0
    lot_adds: dict[date, int] = field(default_factory=dict)
    lot_takes: list[LotTake] = field(default_factory=list)
    refund: RefundMark | None = None
    approval: ApprovalMark | None = None
    tier_code: str | None = None  # a new tier, set in the same transaction
    tier_state: TierState | None = None  # growth by month and the review calendar, when they moved
    recent_adjustments: tuple[Grant, ...] | None = None  # the member's adjustment window, when it moved
    counter_adds: tuple[CounterAdd, ...] = ()
    pending_delta: int = 0  # the member's pending points (冻结期) moved by this much
    pending_move: PendingMove | None = None  # the order's pending item it moves
    events: tuple[DomainEvent, ...] = ()  # written to the outbox in the same transaction
    # Another aggregate's writes in the same transaction (a check-in's day and streak): each is
    # called with the store's UnitOfWork and stages its items, with their conditions and tags.
    joins: tuple[Callable[[Any], None], ...] = ()
    # Whether the member holds a WeChat member card (Member.card_code, as read): its sync is staged
    # with the change without reading the card record (None: not known, the store reads it).
    card_holder: bool | None = None


@dataclass(frozen=True)
class CounterAdd:
    """A limit counter moved from what the plan read (`read_total`) by `amount`, in the same
    transaction as the change it limits; a concurrent move fails the commit and it is planned again."""

    counter_id: str
    amount: int
    read_total: int
    until: float  # unix seconds: the counter's window ends
    now: float


def fingerprint(request: dict[str, Any]) -> str:
    """A stable digest of what was asked, to tell a replay from a reused key."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class MergeChange:
    """One step of a merge, one transaction: lots move from the merged member to the survivor
    with a ledger entry on each side. The final step also moves what is left of the balance,
    the debt and the growth, and marks the merged member `merged_into` the survivor; earlier
    steps only exist when the lots do not fit one transaction."""

    merge_id: str
    survivor: PointsChange
    merged: PointsChange
    final: bool
    pending_orders: tuple[str, ...] = ()  # the merged member's pending items (order entry ids) re-pointed

    @property
    def items(self) -> int:
        lots = [*self.survivor.lot_takes, *self.survivor.lot_adds, *self.merged.lot_takes]
        return 5 + len(lots) + len(self.pending_orders)  # two members, two entries, the merge record


def plan_merge_step(
    survivor: Member,
    survivor_lots: list[PointsLot],
    merged: Member,
    merged_lots: list[PointsLot],
    *,
    created_at: str,
    tier_code: str,
    pending_orders: tuple[str, ...] = (),
) -> MergeChange:
    """The final step when it fits one transaction, else a step moving the earliest lots. The
    final step also re-points the merged member's pending orders (冻结期) to the survivor."""
    final = _merge_step(survivor, survivor_lots, merged, merged_lots, created_at, tier_code, final=True)
    final.pending_orders = pending_orders
    if final.items <= TX_MAX_ITEMS or not merged_lots:
        return final
    batch = sorted(merged_lots, key=lambda lot: lot.expires_on)[: (TX_MAX_ITEMS - 5) // 2]
    return _merge_step(survivor, survivor_lots, merged, batch, created_at, tier_code, final=False)


def _merge_step(
    survivor: Member,
    survivor_lots: list[PointsLot],
    merged: Member,
    lots: list[PointsLot],
    created_at: str,
    tier_code: str,
    *,
    final: bool,
) -> MergeChange:
    moved = -merged.balance if final else -sum(lot.remaining for lot in lots)
    debt = survivor.debt + merged.debt if final else survivor.debt
    growth = merged.growth if final else 0
    takes, adds, repaid = merge_lots(survivor_lots, lots, debt)
    # The final step adds the growth buckets up; the merged member leaves the review calendar.
    states = (
        merged_state((survivor.tier_code, survivor.tier_state), (merged.tier_code, merged.tier_state), tier_code)
        if final
        else (None, None)
    )
    suffix = "" if final else f":{merged.ledger_seq + 1}"
    common = {"lots": len(lots), "points": -moved, "debt": merged.debt if final else 0, "growth": growth}
    stamp = fingerprint({"merge": merged.member_id, "survivor": survivor.member_id})
    out_entry = LedgerEntry(
        entry_id=f"merge:{merged.member_id}:out{suffix}",
        member_id=merged.member_id,
        seq=merged.ledger_seq + 1,
        kind=MERGE,
        delta=moved,
        balance_after=merged.balance + moved,
        debt_after=0 if final else merged.debt,
        created_at=created_at,
        fingerprint=stamp,
        reason="merge",
        detail={**common, "survivor_id": survivor.member_id},
    )
    in_entry = LedgerEntry(
        entry_id=f"merge:{merged.member_id}:in{suffix}",
        member_id=survivor.member_id,
        seq=survivor.ledger_seq + 1,
        kind=MERGE,
        delta=-moved,
        balance_after=survivor.balance - moved,
        debt_after=debt - repaid,
        created_at=created_at,
        fingerprint=stamp,
        reason="merge",
        detail={**common, "merged_id": merged.member_id, "debt_repaid": repaid},
    )
    return MergeChange(
        merge_id=merged.member_id,
        survivor=PointsChange(
            member_id=survivor.member_id,
            expected_version=survivor.version,
            entry=in_entry,
            new_balance=in_entry.balance_after,
            new_debt=in_entry.debt_after,
            growth_delta=growth,
            pending_delta=merged.pending if final else 0,
            lot_adds=adds,
            lot_takes=takes,
            tier_code=tier_code if final and tier_code != survivor.tier_code else None,
            tier_state=states[0],
        ),
        merged=PointsChange(
            member_id=merged.member_id,
            expected_version=merged.version,
            entry=out_entry,
            new_balance=out_entry.balance_after,
            new_debt=out_entry.debt_after,
            growth_delta=-growth,
            pending_delta=-merged.pending if final else 0,
            lot_takes=[LotTake(lot.expires_on, lot.remaining, lot.remaining) for lot in lots],
            tier_state=states[1],
        ),
        final=final,
    )
