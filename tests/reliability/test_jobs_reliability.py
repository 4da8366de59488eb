"""Jobs that die half-way, and jobs that run twice at once: the work is done once, in full."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.clock import epoch_seconds
from chalicelib.domain.events import DomainEvent
from chalicelib.jobs import daily, expiry
from chalicelib.jobs.runner import run_job
from chalicelib.notify import events
from chalicelib.store import jobs_repo, members_repo, points_repo
from chalicelib.store.models import JobStateModel
from tests.integration.test_jobs import earn, member, queued
from tests.support.faults import Injector, client_error, inject

SHANGHAI = timezone(timedelta(hours=8))
EARNED = datetime(2025, 11, 10, 12, 0, tzinfo=SHANGHAI)  # lots valid through 2026-11-30
RUN_AT = datetime(2026, 12, 1, 0, 10, tzinfo=SHANGHAI)
MEMBERS = 40


@pytest.fixture
def due_members(tables: None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(daily, "PAGE_SIZE", 3)  # many pages, so a crash lands between pages
    ids = [member(f"m_{n:03d}") for n in range(MEMBERS)]
    for member_id in ids:
        earn(member_id, 10 + int(member_id[2:]), EARNED)
    queued()
    return ids


def _assert_expired_exactly_once(ids: list[str], event_ids: list[str]) -> None:
    for member_id in ids:
        kinds = [entry.kind for entry in points_repo.iter_member_entries(member_id)]
        assert kinds == ["earn", "expire"], member_id
        assert members_repo.get_member(member_id).balance == 0
    assert set(event_ids) == {f"expire:{m}:2026-12-01" for m in ids}


class _FailAfter(Injector):
    """A DynamoDB outage that starts after `calls` successful calls of `operation`."""

    def __init__(self, operation: str, calls: int) -> None:
        super().__init__(operation, lambda _kwargs: client_error("InternalServerError", operation), None)
        self.left = calls

    def __call__(self, operation: str, kwargs: dict[str, Any]) -> Exception | None:
        if operation != self.operation:
            return None
        self.left -= 1
        return self.make(kwargs) if self.left < 0 else None


def test_job_dying_on_a_dynamodb_outage_is_finished_by_the_rerun_without_repeats(
    due_members: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with inject(monkeypatch, _FailAfter("Query", 5)), pytest.raises(Exception):  # noqa: B017, PT011
        run_job("expire-points", RUN_AT)
    partial = queued()
    assert 0 < len(partial) < MEMBERS  # it did die half-way

    counts = run_job("expire-points", RUN_AT + timedelta(minutes=5))

    assert counts["days"] == 1
    _assert_expired_exactly_once(due_members, [e["event_id"] for e in partial + queued()])


def test_events_lost_with_a_crash_after_the_writes_are_queued_by_the_rerun(
    due_members: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The process dies after a page's expiry entries committed, before their events were queued.
    real_publish, calls = events.publish, Counter[str]()

    def crash_on_fourth_page(batch: list[DomainEvent]) -> int:
        calls["pages"] += 1
        if calls["pages"] == 4:
            raise SystemExit("killed")
        return real_publish(batch)

    monkeypatch.setattr("chalicelib.jobs.daily.publish", crash_on_fourth_page)
    with pytest.raises(SystemExit):
        run_job("expire-points", RUN_AT)
    monkeypatch.setattr("chalicelib.jobs.daily.publish", real_publish)
    before = queued()

    # The next run is the next day's schedule: the unfinished day still uses its own keys.
    run_job("expire-points", RUN_AT + timedelta(days=1))

    _assert_expired_exactly_once(due_members, [e["event_id"] for e in before + queued()])


def test_two_overlapping_runs_only_one_does_the_work(due_members: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    started, release = threading.Event(), threading.Event()
    real_expire = expiry.expire_members

    def slow_expire(now: datetime, lots: list[list[Any]]) -> list[DomainEvent]:
        started.set()
        release.wait(10)
        return real_expire(now, lots)

    monkeypatch.setattr(expiry, "expire_members", slow_expire)
    results: list[dict[str, int]] = []
    first = threading.Thread(target=lambda: results.append(run_job("expire-points", RUN_AT)))
    first.start()
    assert started.wait(10)

    second = run_job("expire-points", RUN_AT)
    release.set()
    first.join(30)

    assert second == {"skipped_running": 1}
    assert results[0]["days"] == 1
    _assert_expired_exactly_once(due_members, [e["event_id"] for e in queued()])
    assert JobStateModel.get("expire-points").lease_owner is None  # released


def test_lease_of_a_run_that_died_without_releasing_it_expires(due_members: list[str]) -> None:
    assert jobs_repo.acquire_lease("expire-points", "dead-run", epoch_seconds())

    assert run_job("expire-points", RUN_AT) == {"skipped_running": 1}
    assert jobs_repo.acquire_lease("expire-points", "new-run", epoch_seconds() + jobs_repo.LEASE_SECONDS + 1)
    jobs_repo.release_lease("expire-points", "new-run")

    assert run_job("expire-points", RUN_AT)["days"] == 1
    _assert_expired_exactly_once(due_members, [e["event_id"] for e in queued()])


def test_birthday_job_crashing_mid_way_gifts_each_member_once(tables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import date

    monkeypatch.setattr(daily, "PAGE_SIZE", 2)
    ids = [member(f"b_{n}", birthday=date(1990, 12, 1)) for n in range(9)]
    with inject(monkeypatch, _FailAfter("TransactWriteItems", 5)), pytest.raises(Exception):  # noqa: B017, PT011
        run_job("birthday-gifts", RUN_AT)
    first = queued()

    run_job("birthday-gifts", RUN_AT + timedelta(hours=1))

    assert {e["event_id"] for e in first + queued()} == {f"birthday:{m}:2026" for m in ids}
    assert [members_repo.get_member(m).balance for m in ids] == [50] * len(ids)
