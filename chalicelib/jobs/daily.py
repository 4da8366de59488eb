"""The loop every calendar job shares: watermark, pages of due work, checkpoints.

A job declares, for one local day, its *sources*: a paged index query and the handler of
one page (idempotent: every write is keyed by member and period, every event id derives
from that key). `run_days` processes each day from the watermark (`done_through`) + 1
through today — on the first run, today only — so a missed day is caught up, and a re-run
on a day already done does nothing.

Before a page is handled, the page itself is recorded in the job's checkpoint. A run that
dies half-way (after some writes, before their events were queued) is finished by the next
one: it handles the recorded page again, which writes nothing twice and re-publishes the
same event ids, then continues from the recorded cursor. A day resumed from a checkpoint
runs with the `now` recorded in it, so its keys (`expire:<member>:<day>`) are the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.clock import local_date
from chalicelib.domain.events import DomainEvent
from chalicelib.notify.events import publish
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store import jobs_repo
from chalicelib.store.jobs_repo import Cursor

PAGE_SIZE = 100


@dataclass(frozen=True)
class Source:
    key: str  # names the source inside a day, for the checkpoint
    fetch: Callable[[Cursor, int], tuple[list[Any], Cursor]]
    handle: Callable[[list[Any]], list[DomainEvent]]


SourcesFor = Callable[[date, datetime], list[Source]]


def days_due(done_through: date | None, checkpoint: dict[str, Any] | None, today: date) -> list[date]:
    """From the day after the watermark; before any day was finished, from the day a first
    run left unfinished, else today."""
    if done_through is not None:
        first = done_through + timedelta(days=1)
    else:
        first = date.fromisoformat(checkpoint["day"]) if checkpoint else today
    return [first + timedelta(days=n) for n in range((today - first).days + 1)]


def run_days(job_name: str, now: datetime, sources_for: SourcesFor, page_size: int | None = None) -> dict[str, int]:
    today = local_date(now, get_settings().timezone)
    state = jobs_repo.get_state(job_name)
    counts: Counter[str] = Counter()
    checkpoint = state.checkpoint
    for day in days_due(state.done_through, checkpoint, today):
        resume = checkpoint if checkpoint and checkpoint.get("day") == day.isoformat() else None
        day_now = datetime.fromisoformat(resume["now"]) if resume else now
        run = _DayRun(job_name, day, day_now, page_size or PAGE_SIZE, counts)
        run.process(sources_for(day, day_now), resume)
        jobs_repo.finish_day(job_name, day)
        checkpoint = None
        counts["days"] += 1
        logger.info("job day done", extra={"job": job_name, "day": day.isoformat(), "counts": dict(counts)})
    return dict(counts)


@dataclass
class _DayRun:
    job_name: str
    day: date
    now: datetime
    page_size: int
    counts: Counter[str]

    def process(self, sources: list[Source], resume: dict[str, Any] | None) -> None:
        start = 0
        keys = [source.key for source in sources]
        if resume and resume.get("source") in keys:
            start = keys.index(resume["source"])
            self._handle(sources[start], list(resume.get("page") or []))
            if resume.get("next") is not None:
                self._drain(sources[start], resume["next"])
            start += 1
        for source in sources[start:]:
            self._drain(source, None)

    def _drain(self, source: Source, cursor: Cursor) -> None:
        while True:
            items, next_cursor = source.fetch(cursor, self.page_size)
            if items:
                checkpoint = {
                    "day": self.day.isoformat(),
                    "now": self.now.isoformat(),
                    "source": source.key,
                    "page": items,
                    "next": next_cursor,
                }
                jobs_repo.save_checkpoint(self.job_name, checkpoint)
                self._handle(source, items)
            if next_cursor is None:
                return
            cursor = next_cursor

    def _handle(self, source: Source, items: list[Any]) -> None:
        events = source.handle(items)
        publish(events)
        self.counts["items"] += len(items)
        self.counts["events"] += len(events)
