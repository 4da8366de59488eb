"""Dormant member reactivation (沉睡唤醒): members whose last activity was exactly
`DORMANT_DAYS` days ago get one `member.dormant` event per dormant spell
(`dormant:<member>:<last_active_on>`): activity starts a new spell, with a new day."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import partial

from chalicelib.clock import iso
from chalicelib.domain.events import DomainEvent
from chalicelib.jobs.daily import Source, run_days
from chalicelib.settings import get_settings
from chalicelib.store import jobs_repo

NAME = "dormant-reactivation"


def run(now: datetime) -> dict[str, int]:
    return run_days(NAME, now, sources)


def sources(day: date, now: datetime) -> list[Source]:
    dormant_days = get_settings().dormant_days
    active_on = day - timedelta(days=dormant_days)
    fetch = partial(jobs_repo.members_last_active_on, active_on)
    return [Source(f"dormant:{active_on.isoformat()}", fetch, partial(remind, now, active_on, dormant_days))]


def remind(now: datetime, active_on: date, dormant_days: int, member_ids: list[str]) -> list[DomainEvent]:
    data = {"last_active_on": active_on.isoformat(), "dormant_days": dormant_days}
    return [
        DomainEvent(f"dormant:{member_id}:{active_on.isoformat()}", "member.dormant", member_id, iso(now), data)
        for member_id in jobs_repo.still_inactive_since(member_ids, active_on)
    ]
