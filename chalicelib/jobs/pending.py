"""Release of pending order points (冻结期): each day, the orders whose return window ended.

Due orders come from the sharded `release` index of the pending items (an item leaves it
when it is released or refunded in full), so the job reads what is due, never the table.
Each release is its own idempotent transaction (services/pending.py) with its `points.earned`
event in the outbox: a re-run, or a page handled again after a crash, releases nothing twice.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import partial

from chalicelib.domain.errors import MemberNotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.jobs.daily import Source, run_days
from chalicelib.observability import logger
from chalicelib.services import pending
from chalicelib.settings import get_settings
from chalicelib.store import pending_repo

NAME = "release-pending"


def run(now: datetime) -> dict[str, int]:
    return run_days(NAME, now, sources)


def sources(day: date, now: datetime) -> list[Source]:
    return [
        Source(f"release:{shard}", partial(pending_repo.due_page, shard, day), partial(release_page, now))
        for shard in range(pending_repo.RELEASE_SHARDS)
    ]


def release_page(now: datetime, order_entry_ids: list[str]) -> list[DomainEvent]:
    for order_entry_id in order_entry_ids:
        try:
            pending.release(order_entry_id, now)
        except MemberNotFound:  # a closed account (注销): its held points go with it
            forfeited = pending_repo.forfeit(order_entry_id, get_settings().region)
            logger.warning(
                "pending points of a closed member", extra={"order_entry_id": order_entry_id, "forfeited": forfeited}
            )
    return []
