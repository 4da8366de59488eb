"""Scheduled jobs by name, run under a lease so that two overlapping runs never both work.

`JOBS` maps the schedule names declared in `app.py` to job bodies `run(now) -> counts`.
The lease lives on the job's state item (`jobs` table) and is timed by the wall clock,
not by `now`: it guards real overlapping executions, while `now` is the calendar the job
works for (tests and `python -m chalicelib.cli job NAME --now ...` choose it).
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.clock import epoch_seconds, utc_now
from chalicelib.observability import logger
from chalicelib.store import jobs_repo

JOBS: dict[str, str] = {
    "expire-points": "chalicelib.jobs.expiry:run",
    "expiry-reminders": "chalicelib.jobs.reminders:run",
    "birthday-gifts": "chalicelib.jobs.birthdays:run",
    "dormant-reactivation": "chalicelib.jobs.dormant:run",
    "campaigns": "chalicelib.jobs.campaigns:run",
    "grants": "chalicelib.jobs.grants:run",
    "tier-review": "chalicelib.jobs.tier_review:run",
    "release-pending": "chalicelib.jobs.pending:run",
    "referral-rewards": "chalicelib.jobs.referrals:run",
    "settle-topups": "chalicelib.jobs.topups:run",
    "coupon-reminders": "chalicelib.jobs.coupon_reminders:run",
    "tier-coupon-packs": "chalicelib.jobs.tier_packs:run",
    "member-card-reconcile": "chalicelib.jobs.member_card:run",
}


class UnknownJob(KeyError):
    pass


def resolve(name: str) -> Callable[[datetime], dict[str, int]]:
    if name not in JOBS:
        raise UnknownJob(f"unknown job {name!r}; known: {', '.join(sorted(JOBS))}")
    module_name, _, function = JOBS[name].partition(":")
    job: Callable[[datetime], dict[str, int]] = getattr(importlib.import_module(module_name), function)
    return job


def run_job(name: str, now: datetime) -> dict[str, int]:
    """Run one job for the calendar of `now`; `{"skipped_running": 1}` when another run holds the lease."""
    job = resolve(name)
    owner = uuid.uuid4().hex
    logger.append_keys(job=name)
    try:
        if not jobs_repo.acquire_lease(name, owner, epoch_seconds()):
            logger.info("job already running elsewhere: skipped")
            return {"skipped_running": 1}
        try:
            counts = dict(job(now))
        finally:
            jobs_repo.release_lease(name, owner)
        logger.info("job done", extra={"counts": counts, "now": now.isoformat()})
        return counts
    finally:
        logger.remove_keys(["job"])


def run_scheduled(name: str, event: Any) -> dict[str, Any]:
    """The EventBridge entry point: the job runs for the current time."""
    return {"job": name, **run_job(name, utc_now())}
