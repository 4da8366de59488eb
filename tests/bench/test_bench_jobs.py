"""Job cost: DynamoDB items read against items due, with 1k and with 20k members.

The same 50 members are due for each job at both sizes; everyone else is not due today.
A job that scanned would read 20 times more at 20k; the target is that the items read
per due item stay the same (invariant 7: cost follows the work due, not the table)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests

from chalicelib.jobs.runner import run_job
from chalicelib.notify.events import reset_clients
from chalicelib.notify.queues import create_queues
from chalicelib.settings import get_settings
from chalicelib.store.models import MemberModel, PointsLotModel
from chalicelib.store.points_repo import expiry_shard
from chalicelib.store.tables import create_tables
from tests.bench.counting import count_dynamodb
from tests.bench.report import row

pytestmark = pytest.mark.bench

DUE = 50
SIZES = (1_000, 20_000)
RUN_AT = datetime(2026, 11, 30, 16, 10, tzinfo=UTC)  # 00:10 on Dec 1 in Shanghai
DUE_LOT = date(2026, 11, 30)  # its last valid day ended at RUN_AT
JOBS = {  # reminders first: expiry removes the lots they remind of
    "expiry-reminders": RUN_AT - timedelta(days=31),  # Oct 31 locally: 30 days before Nov 30
    "expire-points": RUN_AT,
    "birthday-gifts": RUN_AT,
    "dormant-reactivation": RUN_AT,
}


def _other_day(rng: random.Random) -> date:
    return date(2025, 1, 1) + timedelta(days=rng.randrange(300))  # never a due day


def _seed(size: int) -> None:
    rng = random.Random(size)
    with MemberModel.batch_write() as members, PointsLotModel.batch_write() as lots:
        for n in range(size):
            member_id = f"m_{n:06d}"
            due = n < DUE
            expires_on = DUE_LOT if due else date(2027, 1 + n % 12, 28)
            birthday = date(1990, 12, 1) if due else _other_day(rng).replace(year=1990)
            members.save(
                MemberModel(
                    member_id,
                    created_at="2025-01-01T00:00:00Z",
                    balance=100,
                    ledger_seq=0,
                    birthday=birthday.isoformat(),
                    birthday_md=birthday.strftime("%m-%d"),
                    last_active_on=(date(2026, 11, 1) if due else _other_day(rng)).isoformat(),
                )
            )
            lot = PointsLotModel(member_id, expires_on.isoformat(), remaining=100)
            lot.expiry_shard = expiry_shard(expires_on, member_id)
            lots.save(lot)


def _fresh_tables(embedded_aws: str) -> None:
    requests.post(f"{embedded_aws}/moto-api/reset", timeout=5).raise_for_status()
    get_settings.cache_clear()
    reset_clients()
    create_tables()
    create_queues()


def test_job_cost_follows_items_due_not_table_size(embedded_aws: str) -> None:
    measured: dict[str, dict[int, dict[str, Any]]] = {job: {} for job in JOBS}
    for size in SIZES:
        _fresh_tables(embedded_aws)
        _seed(size)
        for job, now in JOBS.items():
            with count_dynamodb() as tally:
                counts = run_job(job, now)
            assert counts["items"] == DUE, (job, size, counts)  # exactly the due work was found
            measured[job][size] = {"items_read": tally.items_read, "requests": tally.total_requests}
    for job, by_size in measured.items():
        small, large = by_size[SIZES[0]]["items_read"], by_size[SIZES[1]]["items_read"]
        growth = round(large / small, 2)
        row(
            f"job {job}: items read per item due, 20k vs 1k members",
            f"{round(large / DUE, 1)} vs {round(small / DUE, 1)}",
            "same (<= 1.1x)",
            growth <= 1.1,
            items_due=DUE,
            items_read_1k=small,
            items_read_20k=large,
            requests_1k=by_size[SIZES[0]]["requests"],
            requests_20k=by_size[SIZES[1]]["requests"],
        )
        assert large < SIZES[1] / 10, f"{job} read {large} items at 20k members: it scans"
