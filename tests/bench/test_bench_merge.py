"""Merge cost (DynamoDB requests per merge, by lots k and aliases a) and events per order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.ledger import TX_MAX_ITEMS
from chalicelib.domain.members import Member
from chalicelib.notify import events
from chalicelib.services import identity, orders, points
from chalicelib.store import members_repo
from tests.bench.counting import count_dynamodb
from tests.bench.report import row

pytestmark = pytest.mark.bench

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
LOTS_PER_TX = (TX_MAX_ITEMS - 5) // 2


def _member_with(member_id: str, lots: int, aliases: int) -> None:
    names = [f"mini:o_{member_id}", f"phone:h_{member_id}", f"mp:mp_{member_id}", f"work:wm_{member_id}"]
    members_repo.create_member(Member(member_id, "2026-02-01T00:00:00Z"), names[:aliases])
    for month in range(lots):
        earned_at = datetime(2026 + month // 12, 1 + month % 12, 10, tzinfo=UTC)
        points.earn(member_id, 10, points.operation(f"seed:{member_id}:{month}", {}, earned_at))


@pytest.mark.parametrize(("lots", "aliases"), [(1, 1), (3, 2), (12, 4)])
def test_dynamodb_requests_per_merge(tables: None, lots: int, aliases: int) -> None:
    members_repo.create_member(Member("m_keep", "2026-01-01T00:00:00Z"), ["mini:o_keep"])
    _member_with("m_gone", lots, aliases)
    with count_dynamodb() as tally:
        # As an approved merge request runs it (the second operator's approval skips the unionid check).
        record = identity.merge_members("m_keep", "m_gone", trigger="operator", now=NOW, approved_by="bob")
    assert record.status == "done" and record.detail["lots"] == lots
    transactions = tally.requests.get("TransactWriteItems", 0)
    wanted_tx = -(-lots // LOTS_PER_TX) if lots > LOTS_PER_TX else 1
    # 20, and since issue 14/15 the referral record's move and the query of the merged member's coupons;
    # since issue 16 the merged member's wallet (read; moved when it holds money) and member card (read)
    base = 24
    ok = transactions == wanted_tx and tally.total_requests <= base + 4 * (wanted_tx - 1) + aliases
    row(
        f"merge: k={lots} lots, a={aliases} aliases",
        f"{tally.total_requests} req/{transactions} tx",
        f"<= {base + 4 * (wanted_tx - 1) + aliases} req, {wanted_tx} tx",
        ok,
        **tally.as_dict(),
    )


def test_events_per_order_ride_in_its_transaction(tables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the outbox: one SendMessageBatch after the commit (and the event lost if SQS was
    down). Now: one outbox item per event inside the order's transaction, no SQS call."""
    sent: list[Any] = []
    original = events.publish

    def counting(batch: Any, queue_name: str | None = None) -> int:
        sent.append(list(batch))
        return original(batch, queue_name)

    monkeypatch.setattr(events, "publish", counting)
    members_repo.create_member(Member("m_ev", "2026-01-01T00:00:00Z"), ["mini:o_ev"])
    for label, order_id, fen in [("no tier change", "EV-1", 10_000), ("tier change", "EV-2", 300_000)]:
        sent.clear()
        with count_dynamodb() as tally:
            orders.record_order(order_id, orders.MemberRef(member_id="m_ev"), fen, NOW, None, NOW, pos_client="pos-1")
        wanted = 1 if label == "no tier change" else 2
        transactions = tally.requests.get("TransactWriteItems", 0)
        row(
            f"events per order ({label}): outbox items in its transaction / SQS calls on the request path",
            f"{tally.items_written - 3} / {len(sent)}",
            f"{wanted} / 0",
            transactions == 1 and tally.items_written == 3 + wanted and not sent,
            dynamodb_requests=tally.total_requests,
        )
