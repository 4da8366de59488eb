"""Points expiry (积分过期): every lot whose last valid day has passed is removed.

Due lots are found through the sharded `expiry` index: for a day being processed, the lots
whose last valid day was the day before. One ledger entry per member and day
(`expire:<member>:<day>`, all of the member's due lots at once) and one `points.expired`
event whose id is that entry's id.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from chalicelib.domain.errors import MemberNotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.jobs.daily import Source, run_days
from chalicelib.observability import logger
from chalicelib.services import points_expiry
from chalicelib.store import jobs_repo
from chalicelib.store.points_repo import EXPIRY_SHARDS

NAME = "expire-points"


def run(now: datetime) -> dict[str, int]:
    return run_days(NAME, now, sources)


def sources(day: date, now: datetime) -> list[Source]:
    last_valid_day = day - timedelta(days=1)
    return [
        Source(
            f"{last_valid_day.isoformat()}#{shard}",
            partial(jobs_repo.lots_expiring_on, last_valid_day, shard),
            partial(expire_members, now),
        )
        for shard in range(EXPIRY_SHARDS)
    ]


def expire_members(now: datetime, lots: list[list[Any]]) -> list[DomainEvent]:
    """Each expiry writes its `points.expired` event to the outbox in its own transaction, so
    the page has no events left to publish."""
    for member_id in dict.fromkeys(str(lot[0]) for lot in lots):
        try:
            points_expiry.expire(member_id, now)
        except MemberNotFound:
            logger.warning("lot of an unknown member", extra={"member_id": member_id})
    return []
