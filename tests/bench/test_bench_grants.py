"""Bulk grant cost: DynamoDB requests per member granted, with 1k and with 20k members.

The grant goes to a whole tier (an audience), so it is made, approved (20k × 10 points is above
the operator's daily limit; 1k is not) and run as the operator's would be. The target: about two
requests per member (the member read and its points transaction) at both sizes, whatever the
table holds; a deduction also reads the member's lots (three)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from chalicelib.domain.grants import GrantStatus
from chalicelib.jobs.runner import run_job
from chalicelib.notify.events import reset_clients
from chalicelib.notify.queues import create_queues
from chalicelib.services import grants
from chalicelib.settings import get_settings
from chalicelib.store import approvals_repo
from chalicelib.store.models import MemberModel
from chalicelib.store.tables import create_tables
from tests.bench.counting import count_dynamodb
from tests.bench.report import row

pytestmark = pytest.mark.bench

SIZES = (1_000, 20_000)
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
AUDIENCE = {"tiers": ["normal"]}
PER_MEMBER: dict[int, float] = {}  # size → requests per member, for the 20k vs 1k row


def _fresh_tables(embedded_aws: str) -> None:
    requests.post(f"{embedded_aws}/moto-api/reset", timeout=5).raise_for_status()
    get_settings.cache_clear()
    reset_clients()
    create_tables()
    create_queues()


def _seed(size: int, balance: int) -> None:
    with MemberModel.batch_write() as batch:
        for n in range(size):
            batch.save(MemberModel(f"m_{n:06d}", created_at="2025-01-01T00:00:00Z", balance=balance, ledger_seq=0))


def _grant(points: int, key: str) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Make, approve (when it waits) and run the grant; the requests of each part, and seconds."""
    started = time.monotonic()
    with count_dynamodb() as made:
        grant = grants.create("alice", grants.GrantRequest(points, "bench", audience=AUDIENCE), key, NOW)
        if grant.status == GrantStatus.PENDING_APPROVAL:
            assert grant.approval_id is not None
            approval = approvals_repo.get(grant.approval_id)
            assert approval is not None
            grants.approve(approval, "bob", NOW)
    with count_dynamodb() as ran:
        while grants.get(grant.grant_id).status == GrantStatus.RUNNING:
            run_job("grants", NOW)
    done = grants.get(grant.grant_id)
    assert (done.status, done.done, done.failed) == (GrantStatus.DONE, done.total, 0), done
    return (
        made.as_dict() | {"total": made.total_requests},
        ran.as_dict() | {"total": ran.total_requests},
        (time.monotonic() - started),
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size // 1000}k")
def test_grant_cost_follows_the_members_granted(embedded_aws: str, size: int) -> None:
    """20k members take about 15 minutes on the embedded moto (`-k 1k` runs the small one)."""
    _fresh_tables(embedded_aws)
    _seed(size, balance=0)
    made, ran, seconds = _grant(10, f"bench-{size}")
    PER_MEMBER[size] = (made["total"] + ran["total"]) / size
    row(
        f"bulk grant to {size:,} members: DynamoDB requests per member",
        round(PER_MEMBER[size], 3),
        "<= 2.1",
        PER_MEMBER[size] <= 2.1,
        members=size,
        requests_made=made["total"],
        requests_run=ran["total"],
        run_requests=ran["requests"],
        items_written=made["items_written"] + ran["items_written"],
        seconds=round(seconds, 1),
    )
    assert ran["requests"].get("Scan", 0) == 0 and made["requests"].get("Scan", 0) == 0
    if all(n in PER_MEMBER for n in SIZES):
        small, large = PER_MEMBER[SIZES[0]], PER_MEMBER[SIZES[1]]
        row(
            "bulk grant: requests per member, 20k vs 1k",
            f"{large:.3f} vs {small:.3f}",
            "same (<= 1.05x)",
            large <= 1.05 * small,
        )


def test_a_deduction_costs_one_more_read_per_member(embedded_aws: str) -> None:
    size = SIZES[0]
    _fresh_tables(embedded_aws)
    _seed(size, balance=0)
    _grant(10, "seed")  # lots to deduct from
    made, ran, _seconds = _grant(-5, "deduct")
    measured = (made["total"] + ran["total"]) / size
    row(
        f"bulk deduction from {size:,} members: DynamoDB requests per member",
        round(measured, 3),
        "<= 3.1",
        measured <= 3.1,
        requests_made=made["total"],
        requests_run=ran["total"],
        run_requests=ran["requests"],
    )
