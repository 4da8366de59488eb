"""Every externally triggered write replayed 3× in a row and 8× at once has exactly one effect."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.ledger import EntryNote
from chalicelib.domain.members import Member
from chalicelib.services import adjustments, approvals, orders, points
from chalicelib.services.reconcile import reconcile
from chalicelib.store import members_repo, points_repo

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def _at_once(call: Callable[[], Any], times: int = 8) -> list[Any]:
    with ThreadPoolExecutor(times) as pool:
        return [future.result() for future in [pool.submit(call) for _ in range(times)]]


def _member(tables: None, member_id: str = "m_replay") -> str:
    members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:o_{member_id}"])
    return member_id


def _ledger_ids(member_id: str) -> list[str]:
    return [entry.entry_id for entry in points_repo.iter_member_entries(member_id)]


def test_concurrent_replays_of_one_order_earn_once(tables: None) -> None:
    member_id = _member(tables)
    ref = orders.MemberRef(openid=f"o_{member_id}")
    results = _at_once(lambda: orders.record_order("P-1", ref, 12_300, NOW, "S1", NOW, pos_client="pos-1"))
    assert len(set(results)) == 1 and results[0].points_earned == 123
    assert members_repo.get_member(member_id).balance == 123
    assert _ledger_ids(member_id) == ["order:P-1"]


def test_concurrent_replays_of_one_redemption_spend_once(tables: None) -> None:
    member_id = _member(tables)
    orders.record_order("P-2", orders.MemberRef(member_id=member_id), 50_000, NOW, None, NOW, pos_client="pos-1")
    op = points.operation(f"redeem:{member_id}:k1", {"points": 70, "reason": "gift"}, NOW)
    results = _at_once(lambda: points.redeem(member_id, 70, op, note=EntryNote(reason="gift")))
    assert all(result == results[0] for result in results)
    assert members_repo.get_member(member_id).balance == 430
    assert sorted(_ledger_ids(member_id)) == sorted(["order:P-2", f"redeem:{member_id}:k1"])


def test_concurrent_replays_of_a_refund_reverse_once(tables: None) -> None:
    member_id = _member(tables)
    orders.record_order("P-3", orders.MemberRef(member_id=member_id), 10_000, NOW, None, NOW, pos_client="pos-1")
    results = _at_once(lambda: orders.refund_order("P-3", "R1", 4_000, NOW, "pos-1"))
    assert len(set(results)) == 1 and results[0].points_reversed == 40
    full = _at_once(lambda: orders.refund_order("P-3", None, None, NOW, "pos-1"))
    assert len(set(full)) == 1 and full[0].refund_fen == 6_000
    assert members_repo.get_member(member_id).balance == 0
    assert list(reconcile([member_id])) == []


def test_concurrent_approvals_apply_once(tables: None) -> None:
    member_id = _member(tables)
    pending = adjustments.request_adjustment(member_id, 5_000, "vip", "alice", "big-1", NOW)
    assert pending.approval is not None
    approval_id = pending.approval.approval_id
    results = _at_once(lambda: approvals.approve(approval_id, "bob", NOW).adjustment)
    assert all(r.entry == results[0].entry for r in results)
    assert members_repo.get_member(member_id).balance == 5_000


def test_sequential_replays_of_each_write_have_one_effect(tables: None) -> None:
    member_id = _member(tables)
    ref = orders.MemberRef(member_id=member_id)
    for _ in range(3):
        orders.record_order("P-4", ref, 20_000, NOW, None, NOW, pos_client="pos-1")
        orders.refund_order("P-4", "R1", 5_000, NOW, "pos-1")
        points.redeem(member_id, 10, points.operation(f"redeem:{member_id}:k", {"p": 10}, NOW))
        adjustments.request_adjustment(member_id, 7, "fix", "alice", "adj", NOW)
    assert members_repo.get_member(member_id).balance == 200 - 50 - 10 + 7
    assert len(_ledger_ids(member_id)) == 4
    assert list(reconcile([member_id])) == []


def test_split_adjustments_at_once_by_one_operator_apply_no_more_than_the_threshold(tables: None) -> None:
    """8 operators' requests of 500 points each, at once, all by alice on one member: the
    threshold (1,000) holds under any interleaving; the rest wait for a second operator."""
    member_id = _member(tables)
    keys = iter(range(8))

    def one() -> adjustments.AdjustmentResult:
        return adjustments.request_adjustment(member_id, 500, "split", "alice", f"sp-{next(keys)}", NOW)

    results = _at_once(one)
    applied = [r for r in results if r.entry is not None]
    assert len(applied) == 2 and len([r for r in results if r.approval is not None]) == 6
    assert members_repo.get_member(member_id).balance == 1000
    assert list(reconcile([member_id])) == []
