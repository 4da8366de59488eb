"""Concurrency against the embedded (serialized) moto server: 8 threads × 120 mixed operations (600 in `make soak`) on a
few hot members. No negative balance, no lost update, reconcile clean, one ledger entry per success."""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from chalicelib.domain.errors import Busy, InsufficientPoints, RefundExceedsOrder
from chalicelib.domain.ledger import EntryNote
from chalicelib.domain.members import Member
from chalicelib.services import adjustments, orders, points
from chalicelib.services.reconcile import reconcile
from chalicelib.store import members_repo, points_repo

THREADS = 8
OPS_PER_THREAD = int(os.environ.get("WXM_CONCURRENCY_OPS", "120"))
MEMBERS = ["m_hot1", "m_hot2", "m_hot3", "m_cold"]
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


class Outcomes:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deltas: Counter[str] = Counter()
        self.entries: dict[str, str] = {}
        self.kinds: Counter[str] = Counter()

    def record(self, kind: str, entry_id: str, member_id: str, delta: int) -> None:
        with self.lock:
            if entry_id in self.entries:
                return  # a replay of an operation already counted
            self.entries[entry_id] = member_id
            self.deltas[member_id] += delta
            self.kinds[kind] += 1


def _worker(thread: int, outcomes: Outcomes) -> None:
    rng = random.Random(thread)
    my_orders: list[tuple[str, str]] = []
    for n in range(OPS_PER_THREAD):
        member_id = rng.choice(MEMBERS[:3]) if rng.random() < 0.85 else MEMBERS[3]
        roll = rng.random()
        try:
            if roll < 0.35:
                order_id = f"t{thread}-o{n}"
                result = orders.record_order(
                    order_id,
                    orders.MemberRef(member_id=member_id),
                    rng.randint(100, 50_000),
                    NOW,
                    None,
                    NOW,
                    pos_client="pos-1",
                )
                my_orders.append((order_id, member_id))
                outcomes.record("earn", f"order:{order_id}", member_id, result.points_earned)
            elif roll < 0.75:
                key = f"t{thread}-r{n}"
                op = points.operation(f"redeem:{member_id}:{key}", {"k": key}, NOW)
                entry = points.redeem(member_id, rng.randint(1, 120), op, note=EntryNote(reason="gift"))
                outcomes.record("redeem", entry.entry_id, member_id, entry.delta)
                if rng.random() < 0.3:  # a client retry of the same redemption
                    again = points.redeem(member_id, -entry.delta, op, note=EntryNote(reason="gift"))
                    assert again == entry
            elif roll < 0.9 and my_orders:
                order_id, owner = rng.choice(my_orders)
                which = rng.randint(0, 2)  # the same refund id always carries the same amount
                refund_id = f"rf{which}"
                refund = orders.refund_order(order_id, refund_id, 100 * (which + 1), NOW, "pos-1")
                outcomes.record("refund", f"refund:{order_id}:{refund_id}", owner, -refund.points_reversed)
            else:
                delta = rng.choice([-30, -5, 5, 40])
                result = adjustments.request_adjustment(member_id, delta, "ops", "alice", f"t{thread}-a{n}", NOW)
                assert result.entry is not None
                outcomes.record("adjust", result.entry.entry_id, member_id, result.entry.delta)
        except (InsufficientPoints, RefundExceedsOrder, Busy):
            pass


def test_mixed_concurrent_operations_keep_every_invariant(tables: None) -> None:
    for member_id in MEMBERS:
        members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:{member_id}"])
    outcomes = Outcomes()
    with ThreadPoolExecutor(THREADS) as pool:
        for future in [pool.submit(_worker, t, outcomes) for t in range(THREADS)]:
            future.result()

    print(f"\nconcurrency: {dict(outcomes.kinds)} committed of {THREADS * OPS_PER_THREAD} ops")
    assert outcomes.kinds["redeem"] > 50 and outcomes.kinds["earn"] > 50
    for member_id in MEMBERS:
        member = members_repo.get_member(member_id)
        assert member.balance == outcomes.deltas[member_id], "lost or doubled update"
        assert member.balance >= 0 or member.debt > 0
        ledger = list(points_repo.iter_member_entries(member_id))
        ids = [entry.entry_id for entry in ledger]
        assert len(ids) == len(set(ids))
        assert {i for i, owner in outcomes.entries.items() if owner == member_id} == set(ids)
        assert sorted(entry.seq for entry in ledger) == list(range(1, len(ledger) + 1))
    assert list(reconcile(MEMBERS)) == []
