"""Scheduled jobs' state (lease, watermark, checkpoint) and the index queries they page through.

Every query reads one key of a sparse or sharded index, so a job costs what is due today,
never the size of the table. Pages come back with DynamoDB's last key as the cursor; the
cursor is plain JSON, so a job can checkpoint it and resume after a crash.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.store.errors import condition_failed
from chalicelib.store.models import JobStateModel, MemberModel, PointsLotModel

Cursor = dict[str, Any] | None
LEASE_SECONDS = 16 * 60  # a Lambda runs 15 minutes at most: an older lease belongs to a dead run


@dataclass(frozen=True)
class JobState:
    job_name: str
    done_through: date | None  # the last local day fully processed
    checkpoint: dict[str, Any] | None  # where an unfinished day stopped


def acquire_lease(job_name: str, owner: str, now_epoch: float, seconds: int = LEASE_SECONDS) -> bool:
    """Take the job's lease unless a live run holds it. Creates the state item on first use."""
    try:
        JobStateModel(job_name).update(
            actions=[JobStateModel.lease_owner.set(owner), JobStateModel.lease_until.set(int(now_epoch) + seconds)],
            condition=JobStateModel.lease_until.does_not_exist() | (JobStateModel.lease_until < int(now_epoch)),
        )
        return True
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise


def release_lease(job_name: str, owner: str) -> None:
    """Give the lease back; a no-op when another run has taken it over since."""
    try:
        JobStateModel(job_name).update(
            actions=[JobStateModel.lease_owner.remove(), JobStateModel.lease_until.remove()],
            condition=JobStateModel.lease_owner == owner,
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise


def get_state(job_name: str) -> JobState:
    try:
        item = JobStateModel.get(job_name, consistent_read=True)
    except JobStateModel.DoesNotExist:
        return JobState(job_name, None, None)
    done = date.fromisoformat(item.done_through) if item.done_through else None
    return JobState(job_name, done, dict(item.detail) if item.detail else None)


def save_checkpoint(job_name: str, checkpoint: dict[str, Any]) -> None:
    JobStateModel(job_name).update(actions=[JobStateModel.detail.set(checkpoint)])


def finish_day(job_name: str, day: date) -> None:
    """Advance the watermark and drop the checkpoint, in one write."""
    JobStateModel(job_name).update(
        actions=[JobStateModel.done_through.set(day.isoformat()), JobStateModel.detail.remove()]
    )


def page(results: Any, limit: int) -> tuple[list[Any], Cursor]:
    """A job's page of a query: at most `limit` items, and where the next page starts (None: done)."""
    items = list(islice(results, limit))
    last = results.last_evaluated_key if len(items) == limit else None
    return items, dict(last) if last else None


def lots_expiring_on(day: date, shard: int, cursor: Cursor, limit: int) -> tuple[list[list[Any]], Cursor]:
    """`[member_id, remaining]` of the lots whose last valid day is `day`, in one shard."""
    results = PointsLotModel.by_expiry.query(
        f"{day.isoformat()}#{shard}", limit=limit, last_evaluated_key=cursor, page_size=limit
    )
    items, last = page(results, limit)
    return [[lot.member_id, int(lot.remaining or 0)] for lot in items], last


def members_with_birthday(month_day: str, cursor: Cursor, limit: int) -> tuple[list[str], Cursor]:
    """Member ids whose birthday is `MM-DD` (sparse index: members without a birthday are absent)."""
    results = MemberModel.by_birthday.query(month_day, limit=limit, last_evaluated_key=cursor, page_size=limit)
    items, last = page(results, limit)
    return [item.member_id for item in items], last


def members_last_active_on(day: date, cursor: Cursor, limit: int) -> tuple[list[str], Cursor]:
    results = MemberModel.by_active_day.query(day.isoformat(), limit=limit, last_evaluated_key=cursor, page_size=limit)
    items, last = page(results, limit)
    return [item.member_id for item in items], last


def still_inactive_since(member_ids: Iterable[str], day: date) -> list[str]:
    """The members (of an index page, which may lag) still last active on `day`, not merged away."""
    wanted = ["member_id", "last_active_on", "merged_into"]
    found = MemberModel.batch_get(list(dict.fromkeys(member_ids)), attributes_to_get=wanted)
    keep = {item.member_id for item in found if item.last_active_on == day.isoformat() and not item.merged_into}
    return [member_id for member_id in dict.fromkeys(member_ids) if member_id in keep]
