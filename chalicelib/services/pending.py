"""Pending order points (冻结期): an order's points wait out the return window before they
become spendable. The order holds them (services/orders.py, `pending_until`); a refund inside
the window cancels them first; here they are released on their day, once.

A release is a points operation keyed `release:<order entry>`: one transaction adds the
points to the lot the order was dated for (or today's, when that lot's date has passed: a
lot is never born expired), repays debt first as any earning does, deletes the order's
pending item (guarded by what was read) and writes `points.earned`, the message "积分已到账".
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.ledger import EntryNote, LedgerEntry, PendingMove, PointsChange
from chalicelib.domain.members import Member
from chalicelib.domain.points import PointsLot, split_earning
from chalicelib.services import points
from chalicelib.store import pending_repo


def release(order_entry_id: str, now: datetime) -> LedgerEntry | None:
    """The release's entry; None when nothing is held (refunded in full, or not due yet)."""
    held = pending_repo.get(order_entry_id)
    if held is None:
        return points.replay(_operation(order_entry_id, now))
    op = _operation(order_entry_id, now)

    def plan(member: Member, _lots: list[PointsLot]) -> PointsChange | None:
        current = pending_repo.get(order_entry_id)  # read after the member: the commit guards both
        if current is None or current.release_on > op.today:
            return None
        lot_day = (
            current.expires_on if current.expires_on >= op.today else points.expiry_in_force().expires_on(op.today)
        )
        repaid, into_lot = split_earning(current.remaining, member.debt)
        order_id = keys.order_id_of(order_entry_id)
        note = EntryNote(
            reason="release",
            detail={"order_entry_id": order_entry_id, "order_id": order_id, "debt_repaid": repaid},
        )
        change = points.change(
            op,
            member,
            kinds.RELEASE,
            current.remaining,
            new_debt=member.debt - repaid,
            lot_adds={lot_day: into_lot} if into_lot else {},
            note=note,
            pending=PendingMove(order_entry_id, current.member_id, -current.remaining, current.remaining),
        )
        data = {"points": current.remaining, "balance": change.entry.balance_after, "order_id": order_id}
        change.events = (points.entry_event(change.entry, "points.earned", data),)
        return change

    return points.apply_optional(held.member_id, op, plan, reads_lots=False)


def _operation(order_entry_id: str, now: datetime) -> points.Operation:
    return points.operation(keys.key("release", order_entry_id), {"release": order_entry_id}, now)
