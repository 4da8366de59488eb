"""Expiring-points reminder (积分到期提醒): N days before a lot's last valid day, for each N
in `EXPIRY_REMINDER_DAYS` (e.g. 30 and 7). One reminder per member, lot date and N:
the event id is `remind:<member>:<expires_on>:<N>`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain.events import DomainEvent
from chalicelib.jobs.daily import Source, run_days
from chalicelib.settings import get_settings
from chalicelib.store import jobs_repo
from chalicelib.store.points_repo import EXPIRY_SHARDS

NAME = "expiry-reminders"


def run(now: datetime) -> dict[str, int]:
    return run_days(NAME, now, sources)


def reminder_days(raw: str) -> list[int]:
    """`"30,7"` → [30, 7]; blanks and duplicates ignored, zero or negative refused."""
    days = []
    for part in raw.split(","):
        if part.strip():
            value = int(part)
            if value < 1:
                raise ValueError("EXPIRY_REMINDER_DAYS must be positive day counts")
            days.append(value)
    return list(dict.fromkeys(days))


def sources(day: date, now: datetime) -> list[Source]:
    found = []
    for days_left in reminder_days(get_settings().expiry_reminder_days):
        expires_on = day + timedelta(days=days_left)
        for shard in range(EXPIRY_SHARDS):
            found.append(
                Source(
                    f"{days_left}:{expires_on.isoformat()}#{shard}",
                    partial(jobs_repo.lots_expiring_on, expires_on, shard),
                    partial(remind, now, expires_on, days_left),
                )
            )
    return found


def remind(now: datetime, expires_on: date, days_left: int, lots: list[list[Any]]) -> list[DomainEvent]:
    return [
        DomainEvent(
            f"remind:{member_id}:{expires_on.isoformat()}:{days_left}",
            "points.expiring",
            str(member_id),
            iso(now),
            {"points": int(remaining), "expires_on": expires_on.isoformat(), "days_left": days_left},
        )
        for member_id, remaining in lots
        if int(remaining) > 0
    ]
