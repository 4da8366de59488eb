"""Bulk grants that die half-way, chunks run twice at once, a request that stops between its
writes: every member ends with exactly one grant entry and the totals are exact."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain import grants as rules
from chalicelib.domain.grants import BulkGrant
from chalicelib.domain.members import Member
from chalicelib.jobs import grants as job
from chalicelib.jobs.runner import run_job
from chalicelib.services import grants, points
from chalicelib.services.reconcile import reconcile
from chalicelib.store import approvals_repo, grants_repo, members_repo, points_repo
from tests.support.faults import client_error, inject

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
MEMBERS = 10
CHUNK = 4  # three chunks: 4, 4, 2


class Crash(BaseException):
    """The process dying: nothing of ours catches it (a Lambda timeout or OOM)."""


@pytest.fixture
def members(tables: None, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(rules, "CHUNK_SIZE", CHUNK)
    ids = [f"m_{n:03d}" for n in range(MEMBERS)]
    for member_id in ids:
        members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [])
        points.earn(member_id, 30, points.operation(f"seed:{member_id}", {}, NOW))
    return ids


def _create(ids: list[str], points_each: int = 10, key: str = "k1") -> BulkGrant:
    request = grants.GrantRequest(points=points_each, reason="补发", members_csv="\n".join(ids))
    grant = grants.create("alice", request, key, NOW)
    assert grant.status == rules.GrantStatus.RUNNING
    return grant


def _assert_granted_exactly_once(grant_id: str, ids: list[str], balance: int) -> None:
    grant = grants.get(grant_id)
    assert (grant.status, grant.done, grant.failed, grant.next_chunk) == ("done", len(ids), 0, grant.chunks)
    for member_id in ids:
        entries = [e for e in points_repo.iter_member_entries(member_id) if e.kind == "grant"]
        assert [e.entry_id for e in entries] == [rules.entry_id(grant_id, member_id)], member_id
        assert members_repo.get_member(member_id).balance == balance, member_id
    assert list(reconcile(ids)) == []


def _die_after(monkeypatch: pytest.MonkeyPatch, members_done: int) -> Any:
    """Makes the job die as it reaches its `members_done`-th member; returns the real function."""
    real, calls = job.grant_member, [0]

    def dying(grant: BulkGrant, member_id: str, now: datetime) -> str | None:
        if calls[0] == members_done:
            raise Crash("the process died")
        calls[0] += 1
        return real(grant, member_id, now)

    monkeypatch.setattr(job, "grant_member", dying)
    return real


def test_a_run_dying_in_the_middle_of_a_chunk_is_finished_by_the_next_without_repeats(
    members: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = _create(members)
    real = _die_after(monkeypatch, members_done=6)  # two into the second chunk
    with pytest.raises(Crash):
        run_job("grants", NOW)
    partway = grants.get(grant.grant_id)
    monkeypatch.setattr(job, "grant_member", real)

    counts = run_job("grants", NOW)

    assert (partway.next_chunk, partway.done, partway.status) == (1, CHUNK, "running")
    assert counts["items"] == MEMBERS - CHUNK  # the resumed chunks, counted once each
    _assert_granted_exactly_once(grant.grant_id, members, 40)


def test_a_dynamodb_outage_mid_chunk_stops_the_run_and_the_next_run_resumes(
    members: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = _create(members, points_each=-10)
    left = [5]

    def outage_after_five(operation: str, _kwargs: dict[str, Any]) -> Exception | None:
        if operation != "TransactWriteItems":
            return None
        left[0] -= 1
        return client_error("InternalServerError", operation) if left[0] < 0 else None

    with inject(monkeypatch, outage_after_five), pytest.raises(Exception):  # noqa: B017, PT011
        run_job("grants", NOW)

    run_job("grants", NOW)

    _assert_granted_exactly_once(grant.grant_id, members, 20)


def test_a_chunk_granted_but_not_counted_is_counted_once_by_the_rerun_without_points_writes(
    members: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    grant = _create(members)
    real_checkpoint = grants_repo.checkpoint

    def dies_before_counting(*args: Any) -> bool:
        raise Crash("died between the last member and the checkpoint")

    monkeypatch.setattr(grants_repo, "checkpoint", dies_before_counting)
    with pytest.raises(Crash):
        run_job("grants", NOW)
    monkeypatch.setattr(grants_repo, "checkpoint", real_checkpoint)
    stored = grants.get(grant.grant_id)
    real_grant_member, touched = job.grant_member, []
    monkeypatch.setattr(job, "grant_member", lambda g, m, n: touched.append(m) or real_grant_member(g, m, n))

    run_job("grants", NOW)

    assert (stored.next_chunk, stored.done) == (0, 0)
    assert touched == members[CHUNK:]  # the first chunk's members were found granted, not touched
    _assert_granted_exactly_once(grant.grant_id, members, 40)


@pytest.mark.parametrize("points_each", [10, -30])
def test_the_same_chunk_run_twice_at_once_grants_once_and_counts_once(members: list[str], points_each: int) -> None:
    """Two workers (a lease lost to a paused process) on the same chunk: the ledger keys keep
    each member's change to one, the checkpoint guard keeps the count to one. A deduction of
    the whole balance cannot be taken twice either (nor reported as insufficient)."""
    grant = _create(members, points_each=points_each)
    start, outcomes = threading.Barrier(2), []

    def worker() -> None:
        start.wait()
        outcome = job.run_chunk(grant, NOW)
        outcomes.append((outcome, job.checkpoint(grant, outcome, NOW)))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counted = grants.get(grant.grant_id)
    run_job("grants", NOW)

    assert [o.done for o, _ in outcomes] == [CHUNK, CHUNK] and [o.failures for o, _ in outcomes] == [(), ()]
    assert sorted(after is not None for _, after in outcomes) == [False, True]
    assert (counted.next_chunk, counted.done) == (1, CHUNK)
    _assert_granted_exactly_once(grant.grant_id, members, 30 + points_each)


def test_two_job_runs_at_once_share_the_work_through_the_lease(members: list[str]) -> None:
    grant = _create(members)
    start, results = threading.Barrier(2), []

    def run() -> None:
        start.wait()
        results.append(run_job("grants", NOW))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_job("grants", NOW)

    assert sum(r.get("items", 0) for r in results) <= MEMBERS
    _assert_granted_exactly_once(grant.grant_id, members, 40)


def test_a_request_stopping_before_it_asked_for_approval_asks_on_its_retry(
    members: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    request = grants.GrantRequest(points=5000, reason="大额补发", members_csv=members[0])
    real_create = approvals_repo.create

    def dies(_approval: Any) -> Any:
        raise Crash("died after the grant committed")

    monkeypatch.setattr(approvals_repo, "create", dies)
    with pytest.raises(Crash):
        grants.create("alice", request, "big", NOW)
    monkeypatch.setattr(approvals_repo, "create", real_create)

    retried = grants.create("alice", request, "big", NOW)
    assert retried.approval_id is not None and approvals_repo.get(retried.approval_id) is not None
    approval = approvals_repo.get(retried.approval_id)
    assert approval is not None

    start, decided = threading.Barrier(2), []

    def approve(operator: str) -> None:
        start.wait()
        decided.append(grants.approve(approval, operator, NOW).approved_by)

    threads = [threading.Thread(target=approve, args=(name,)) for name in ("bob", "carol")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_job("grants", NOW)

    started = grants.get(retried.grant_id)
    assert len(set(decided)) == 1 and started.approved_by == decided[0]  # one approval won, the other read it
    _assert_granted_exactly_once(retried.grant_id, members[:1], 5030)
