"""Decisions under contention: an approval and a rejection of one request at once, two
approvers or two rejecters at once. Exactly one decision wins, its effect happens once (or
not at all), and exactly one `approval.decided` event records it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.approvals import ApprovalDecided, ApprovalStatus
from chalicelib.domain.members import Member
from chalicelib.services import adjustments, approvals, merge_requests, points
from chalicelib.services.reconcile import reconcile
from chalicelib.store import approvals_repo, members_repo, points_repo
from chalicelib.store.models import OutboxModel

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
ROUNDS = 6


def _member(member_id: str) -> str:
    members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:o_{member_id}"])
    return member_id


def _pending(member_id: str, key: str = "big") -> str:
    result = adjustments.request_adjustment(member_id, 5000, "service recovery", "alice", key, NOW)
    assert result.approval is not None and result.entry is None
    return result.approval.approval_id


def _at_once(*calls: Callable[[], Any], stagger: float = 0.0) -> list[Any]:
    """Each call from its own thread, released together (each later one `stagger` seconds after
    the one before, so either side gets to win some rounds); an exception is its outcome."""
    barrier = threading.Barrier(len(calls))

    def run(numbered: tuple[int, Callable[[], Any]]) -> Any:
        position, call = numbered
        barrier.wait()
        time.sleep(position * stagger)
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - the outcome under test
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, enumerate(calls)))


def _decided_events(approval_id: str) -> list[dict[str, Any]]:
    found = [item for item in OutboxModel.query(f"{approval_id}#approval.decided")]
    return [dict(item.data or {}) for item in found]


def test_an_approval_and_a_rejection_at_once_decide_exactly_once(tables: None) -> None:
    outcomes: set[str] = set()
    for n in range(ROUNDS):
        member_id = _member(f"m_race{n}")
        approval_id = _pending(member_id)

        approved, rejected = _at_once(
            lambda a=approval_id: approvals.approve(a, "bob", NOW),
            lambda a=approval_id: approvals.reject(a, "carol", "not justified", NOW),
            stagger=0.03 * (n % 3),
        )

        approve_won = not isinstance(approved, Exception)
        reject_won = not isinstance(rejected, Exception)
        assert approve_won != reject_won, (approved, rejected)
        loser = rejected if approve_won else approved
        assert isinstance(loser, ApprovalDecided), loser
        stored = approvals_repo.get(approval_id)
        assert stored is not None
        balance = members_repo.get_member(member_id).balance
        if approve_won:
            assert (stored.status, stored.decided_by, balance) == (ApprovalStatus.APPROVED, "bob", 5000)
        else:
            assert (stored.status, stored.decided_by, balance) == (ApprovalStatus.REJECTED, "carol", 0)
            assert points_repo.get_entry(f"adjust:{approval_id}") is None
        assert [event["status"] for event in _decided_events(approval_id)] == [str(stored.status)]
        assert list(reconcile([member_id])) == []
        outcomes.add(str(stored.status))
    print("winners:", sorted(outcomes))  # which wins is the race's; that one always does is the rule


def test_two_approvers_at_once_apply_the_adjustment_once(tables: None) -> None:
    member_id = _member("m_twice")
    approval_id = _pending(member_id)

    first, second = _at_once(
        lambda: approvals.approve(approval_id, "bob", NOW),
        lambda: approvals.approve(approval_id, "carol", NOW),
    )

    assert not isinstance(first, Exception) and not isinstance(second, Exception), (first, second)
    assert first.adjustment.entry == second.adjustment.entry  # the loser replays the winner's entry
    assert members_repo.get_member(member_id).balance == 5000
    adjust_entries = [e for e in points_repo.iter_member_entries(member_id) if e.kind == "adjust"]
    assert len(adjust_entries) == 1
    assert len(_decided_events(approval_id)) == 1


def test_two_rejecters_at_once_reject_once(tables: None) -> None:
    member_id = _member("m_norej")
    approval_id = _pending(member_id)

    outcomes = _at_once(
        lambda: approvals.reject(approval_id, "bob", "no", NOW),
        lambda: approvals.reject(approval_id, "carol", "no", NOW),
        lambda: approvals.reject(approval_id, "bob", "no", NOW),
    )

    stored = approvals_repo.get(approval_id)
    assert stored is not None and stored.status == ApprovalStatus.REJECTED
    winner = stored.decided_by
    for outcome, rejecter in zip(outcomes, ["bob", "carol", "bob"], strict=True):
        if rejecter == winner:
            assert not isinstance(outcome, Exception) and outcome.decided_by == winner, outcome
        else:
            assert isinstance(outcome, ApprovalDecided), outcome
    assert len(_decided_events(approval_id)) == 1


def test_a_merge_approved_and_rejected_at_once_runs_only_if_the_approval_won(tables: None) -> None:
    winners = []
    for n in range(ROUNDS):
        survivor, merged = _member(f"m_s{n}"), _member(f"m_m{n}")
        points.earn(merged, 30, points.operation(f"seed:{n}", {}, NOW))
        request = merge_requests.request_merge(
            survivor, merged, requested_by="alice", reason="same customer", trigger="operator", now=NOW
        )
        approval_id = request.approval.approval_id

        approved, rejected = _at_once(
            lambda a=approval_id: approvals.approve(a, "bob", NOW),
            lambda a=approval_id: approvals.reject(a, "carol", "different people", NOW),
            stagger=0.05 * (n % 3),
        )

        approve_won = not isinstance(approved, Exception)
        assert approve_won != (not isinstance(rejected, Exception)), (approved, rejected)
        assert isinstance(rejected if approve_won else approved, ApprovalDecided)
        merged_member = members_repo.get_member(merged)
        if approve_won:
            assert merged_member.merged_into == survivor and members_repo.get_member(survivor).balance == 30
        else:
            assert merged_member.merged_into is None and merged_member.balance == 30
        assert len(_decided_events(approval_id)) == 1
        assert list(reconcile([survivor, merged])) == []
        winners.append("approve" if approve_won else "reject")
    print("winners:", winners)


def test_a_rejection_landing_between_the_approvers_read_and_commit_stops_the_points(
    tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving the race above may not hit: the approver planned from a pending request,
    the rejection committed, then the approver's transaction is sent."""
    member_id = _member("m_between")
    approval_id = _pending(member_id)
    commit = points_repo.commit

    def rejected_first(change: Any) -> None:
        if change.approval is not None and approvals_repo.get(approval_id).status == ApprovalStatus.PENDING:
            approvals.reject(approval_id, "carol", "not justified", NOW)
        commit(change)

    monkeypatch.setattr(points_repo, "commit", rejected_first)

    with pytest.raises(ApprovalDecided):
        approvals.approve(approval_id, "bob", NOW)
    assert members_repo.get_member(member_id).balance == 0
    assert [event["status"] for event in _decided_events(approval_id)] == ["rejected"]


def test_an_approval_landing_between_the_rejecters_read_and_commit_wins(
    tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    member_id = _member("m_between2")
    approval_id = _pending(member_id)
    reject = approvals_repo.reject

    def approved_first(*args: Any) -> Any:
        approvals.approve(approval_id, "bob", NOW)
        return reject(*args)

    monkeypatch.setattr(approvals_repo, "reject", approved_first)

    with pytest.raises(ApprovalDecided):
        approvals.reject(approval_id, "carol", "not justified", NOW)
    assert members_repo.get_member(member_id).balance == 5000
    assert [event["status"] for event in _decided_events(approval_id)] == ["approved"]


def test_a_rejection_landing_before_a_merges_decision_commits_stops_the_merge(
    tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor, merged = _member("m_s_between"), _member("m_m_between")
    request = merge_requests.request_merge(
        survivor, merged, requested_by="alice", reason="same customer", trigger="operator", now=NOW
    )
    approval_id = request.approval.approval_id
    get = approvals_repo.get
    calls = []

    def rejected_after_the_read(wanted: str) -> Any:
        found = get(wanted)
        calls.append(wanted)
        if len(calls) == 2:  # decide's own read: pending; the rejection commits right after it
            approvals.reject(approval_id, "carol", "different people", NOW)
        return found

    monkeypatch.setattr(approvals_repo, "get", rejected_after_the_read)

    with pytest.raises(ApprovalDecided):
        approvals.approve(approval_id, "bob", NOW)
    assert members_repo.get_member(merged).merged_into is None
    assert [event["status"] for event in _decided_events(approval_id)] == ["rejected"]
