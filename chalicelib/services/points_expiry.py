"""Points expiry (积分过期): every lot whose last valid day is before today leaves the balance,
one entry per member and day, through the points engine (`services/points.py`)."""

from __future__ import annotations

from datetime import datetime

from chalicelib.clock import local_date, utc_now
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.ledger import EntryNote, LedgerEntry, PointsChange
from chalicelib.domain.members import Member
from chalicelib.domain.points import LotTake, PointsLot, due_for_expiry
from chalicelib.services.points import apply_optional, change, operation
from chalicelib.settings import get_settings


def expire(member_id: str, now: datetime | None = None) -> LedgerEntry | None:
    """Remove every lot whose last valid day is before today. Keyed by member and day."""
    now = now or utc_now()
    today = local_date(now, get_settings().timezone)
    op = operation(keys.expire_entry(member_id, today.isoformat()), {"member_id": member_id}, now)

    def plan(member: Member, lots: list[PointsLot]) -> PointsChange | None:
        due = due_for_expiry(lots, op.today)
        if not due:
            return None
        takes = [LotTake(lot.expires_on, lot.remaining, lot.remaining) for lot in due]
        expired = sum(lot.remaining for lot in due)
        planned = change(op, member, kinds.EXPIRE, -expired, lot_takes=takes, note=EntryNote(reason="expired"))
        record = planned.entry
        # The event's id is the entry's own, as the expiry job published it before the outbox.
        data = {"points": expired, "balance": record.balance_after}
        planned.events = (DomainEvent(record.entry_id, "points.expired", member_id, record.created_at, data),)
        return planned

    return apply_optional(member_id, op, plan, reads_lots=True)
