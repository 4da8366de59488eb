"""What pending order points (冻结期) cost: the order that holds them (one item more in its
transaction), the release job per due order (O(due): orders not yet due cost nothing), and a
refund inside the window (one read more: the order's held points)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chalicelib import clock
from chalicelib.jobs.runner import run_job
from tests.bench.counting import count_dynamodb
from tests.bench.report import row
from tests.support.api import SHANGHAI, Api
from tests.support.programme import publish_with

pytestmark = pytest.mark.bench

DUE, NOT_DUE = 40, 200
PAID = datetime(2026, 11, 10, 12, 0, tzinfo=SHANGHAI)


def _orders(api: Api, prefix: str, count: int, moment: datetime) -> list[str]:
    clock.pin(moment)
    ids = [api.login(f"{prefix}{n}")[1] for n in range(count)]
    for n, member_id in enumerate(ids):
        assert api.order(f"{prefix}-{n}", {"member_id": member_id}, 10_000).status_code == 200
    return ids


def test_bench_pending_points_hold_release_and_refund(api: Api) -> None:
    publish_with("points", {"pending_days": 7})
    _orders(api, "due", DUE, PAID)
    _orders(api, "later", NOT_DUE, PAID + timedelta(days=3))  # released three days after the others
    clock.pin(PAID + timedelta(days=3, minutes=5))
    member_id = api.login("held")[1]
    with count_dynamodb() as hold:
        assert api.order("held-1", {"member_id": member_id}, 10_000).json_body["points_pending"] == 100
    with count_dynamodb() as refund:
        assert api.refund("held-1", {"refund_id": "r", "amount_fen": 5_000}).status_code == 200
    with count_dynamodb() as job:
        counts = run_job("release-pending", PAID + timedelta(days=7, hours=13))  # 01:00 on the release day
    assert counts["days"] == 1
    row("order with held points: transaction items (member, entry, pending, outbox)", hold.items_written, "4",
        hold.items_written == 4, requests_seen=hold.as_dict())  # fmt: skip
    row("refund inside the window: DynamoDB requests", refund.total_requests, "≤ 7", refund.total_requests <= 7,
        requests_seen=refund.as_dict())  # fmt: skip
    per_due = job.total_requests / DUE
    row(f"release job: DynamoDB requests per due order ({DUE} due, {NOT_DUE} not yet)", f"{per_due:.1f}", "≤ 6",
        per_due <= 6, requests_seen=job.as_dict())  # fmt: skip
    per_item = job.items_written / DUE
    row("release job: items written per due order (member, lot, entry, pending, outbox + the job's checkpoints)",
        f"{per_item:.2f}", "≤ 5.5", per_item <= 5.5)  # fmt: skip
