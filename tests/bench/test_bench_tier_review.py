"""Tier review (保级) cost: DynamoDB requests and items read per member due, at 1k and 20k members.

The same 50 members are due at both sizes (their review is today); the others are reviewed
later in the year or sit on the lowest tier, outside the index. A review that scanned would
read 20 times more at 20k; the target is the same cost per member due at both sizes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from chalicelib.jobs.runner import run_job
from chalicelib.notify.events import reset_clients
from chalicelib.notify.queues import create_queues
from chalicelib.services import programme
from chalicelib.settings import get_settings
from chalicelib.store.models import MemberModel
from chalicelib.store.tables import create_tables
from chalicelib.store.tiers_repo import due_shard
from tests.bench.counting import count_dynamodb
from tests.bench.report import row

pytestmark = pytest.mark.bench

DUE = 50
SIZES = (1_000, 20_000)
RUN_AT = datetime(2027, 3, 10, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai, the schedule's time
REVIEW_DAY = date(2027, 3, 10)


def _seed(size: int) -> None:
    with MemberModel.batch_write() as members:
        for n in range(size):
            item = MemberModel(f"m_{n:06d}", created_at="2025-01-01T00:00:00Z", tier_code="normal", growth=10)
            if n < DUE or n % 2:  # silver: due today, or reviewed on a later day this year
                review_on = REVIEW_DAY if n < DUE else REVIEW_DAY + timedelta(days=30 + n % 300)
                item.tier_code, item.growth = "silver", 3000 if n >= DUE else 0
                item.growth_months = {"2026-03": item.growth} if item.growth else None
                item.tier_review_on = item.tier_due_on = review_on.isoformat()
                item.tier_upgraded_on = "2026-03-10"
                item.tier_due_shard = due_shard(item.member_id)
            members.save(item)


def _fresh_tables(embedded_aws: str) -> None:
    requests.post(f"{embedded_aws}/moto-api/reset", timeout=5).raise_for_status()
    get_settings.cache_clear()
    reset_clients()
    programme.forget()
    create_tables()
    create_queues()


def test_tier_review_cost_per_due_member_does_not_grow_with_the_table(embedded_aws: str) -> None:
    measured: dict[int, dict[str, Any]] = {}
    for size in SIZES:
        _fresh_tables(embedded_aws)
        _seed(size)
        programme.current()  # the programme's head read is not the review's cost
        with count_dynamodb() as tally:
            counts = run_job("tier-review", RUN_AT)
        assert counts["items"] == DUE, (size, counts)
        assert "Scan" not in tally.requests
        measured[size] = {**tally.as_dict(), "requests": tally.total_requests, "by_operation": dict(tally.requests)}
        assert MemberModel.get("m_000000").tier_code == "normal", "the due member was reviewed"
    small, large = measured[SIZES[0]], measured[SIZES[1]]
    per_small, per_large = small["requests"] / DUE, large["requests"] / DUE
    row(
        "tier review: DynamoDB requests per member due, 20k vs 1k members",
        f"{round(per_large, 2)} vs {round(per_small, 2)}",
        "same (<= 1.1x), <= 2",
        per_large <= per_small * 1.1 and per_large <= 2,
        items_due=DUE,
        requests_1k=small["requests"],
        requests_20k=large["requests"],
        items_read_1k=small["items_read"],
        items_read_20k=large["items_read"],
        by_operation_20k=large["by_operation"],
    )
    assert large["items_read"] < SIZES[1] / 10, f"the review read {large['items_read']} items at 20k members"
    assert per_large <= 2, large
