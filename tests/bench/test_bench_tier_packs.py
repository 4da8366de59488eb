"""Tier benefit packs (等级权益券包) cost: DynamoDB requests per member granted, and what the job
reads of members outside the tier (nothing: it pages the `tier` index, never the table).

Per member of a tier with a pack of `count` coupons: its share of the index page (one Query
per 100) and of the page's consistent BatchGetItem, then per coupon a grant
(services/coupons.py): the member (GetItem), the template (GetItem), its shards (one
BatchGetItem) and one TransactWriteItems of the coupon, its code, a shard and the member's
count. So 4 × count + ~0.02, plus the job's own state (lease, watermark, checkpoints), the
same whether the tier's members are alone in the table or among thousands of others."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.programme import Programme
from chalicelib.jobs.runner import run_job
from chalicelib.services import coupon_templates, programme
from chalicelib.store import coupons_repo, programme_repo
from chalicelib.store.models import JobStateModel, MemberModel
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row

pytestmark = pytest.mark.bench

SHANGHAI = timezone(timedelta(hours=8))
DECEMBER = datetime(2026, 12, 1, 0, 40, tzinfo=SHANGHAI)
JANUARY = datetime(2027, 1, 1, 0, 40, tzinfo=SHANGHAI)
GOLD, OTHERS, COUNT = 150, 2_000, 2
JOB = "tier-coupon-packs"


def _seed_pack() -> int:
    """A pack of COUNT coupons for 金卡; the template's shard count (what a grant reads)."""
    data = {
        "name": "金卡月券 满200减30",
        "benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 3000},
        "validity": {"kind": "days_after_claim", "days": 30},
        "stock": 10_000,
    }
    created = coupon_templates.create("alice", data, None, "bench", DECEMBER - timedelta(days=3)).template
    document = programme.configured().model_dump(mode="json")
    document["tiers"][2]["benefits"]["monthly_coupons"] = [{"template_id": created.template_id, "count": COUNT}]
    valid = Programme.model_validate(document, strict=False).model_dump(mode="json")
    programme_repo.publish(None, valid, "t", "bench", None)
    programme.forget()
    return created.shards


def _seed_members(first: int, count: int, tier: str | None) -> None:
    with MemberModel.batch_write() as members:
        for n in range(first, first + count):
            code = tier or ("silver" if n % 2 else "normal")
            members.save(MemberModel(f"m_{n:05d}", created_at="2025-01-01T00:00:00Z", tier_code=code))


def _run(now: datetime) -> tuple[dict[str, int], Tally]:
    JobStateModel(JOB).delete()  # today only: each measured run is one day's work
    programme.current()  # the programme's head read is not the job's cost
    with count_dynamodb() as tally:
        counts = run_job(JOB, now)
    assert counts["coupons"] == GOLD * COUNT and counts["members"] == GOLD, counts
    assert tally.requests["Scan"] == 0
    return counts, tally


def test_bench_tier_pack_requests_per_member_granted(tables: None) -> None:
    shards = _seed_pack()
    _seed_members(0, GOLD, "gold")
    _, alone = _run(DECEMBER)
    _seed_members(GOLD, OTHERS, None)
    _, among = _run(JANUARY)
    with count_dynamodb() as rerun:
        again = run_job(JOB, JANUARY + timedelta(hours=1))

    assert len(coupons_repo.member_coupons("m_00000")) == 2 * COUNT
    per_member, per_member_alone = among.total_requests / GOLD, alone.total_requests / GOLD
    row(
        f"tier pack: DynamoDB requests per member granted ({COUNT} coupons), among {OTHERS} others vs alone",
        f"{round(per_member, 2)} vs {round(per_member_alone, 2)}",
        f"same, <= {4 * COUNT + 0.2}",
        per_member <= per_member_alone * 1.01 and per_member <= 4 * COUNT + 0.2,
        members_granted=GOLD,
        by_operation=dict(among.requests),
        transaction_items_per_coupon=among.items_written / (GOLD * COUNT),
    )
    # index entry + member; per coupon the member, the template and its shards
    expected_items = 2 + COUNT * (2 + shards)
    row(
        "tier pack: items read per member granted, among others vs alone (none outside the tier)",
        f"{round(among.items_read / GOLD, 2)} vs {round(alone.items_read / GOLD, 2)}",
        f"same, {expected_items} ({shards} shards)",
        among.items_read == alone.items_read and among.items_read <= GOLD * expected_items + 10,
    )
    row("tier pack: requests of a re-run the same day", rerun.total_requests, "<= 5", rerun.total_requests <= 5)
    assert again == {}
    assert among.items_read == alone.items_read, (among.as_dict(), alone.as_dict())
