"""Member import (会员导入) cost: DynamoDB requests per line and lines per second, against a bare
BatchWriteItem of the same member items, in one run.

An import writes one transaction per member (member, 3 identities, 2 lots, the entry) and reads
~3 BatchGetItems per 100 lines; a re-import of the same file only reads. The bare baseline writes
the member items alone, 25 per request, with no condition, no identity, no lot and no ledger.

N is 2,000 lines by default (the embedded moto serialises every request: ~50 transactions/s on
2 cores, so 100k lines take half an hour); `WXM_BENCH_IMPORT_ROWS=100000 make bench` runs the
100k of issue 13."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import requests

from chalicelib.clock import utc_now
from chalicelib.domain.imports_plan import new_member_id
from chalicelib.notify.events import reset_clients
from chalicelib.notify.queues import create_queues
from chalicelib.security.phone import encrypt_phone, phone_hash
from chalicelib.services import imports
from chalicelib.settings import get_settings
from chalicelib.store.models import MemberModel
from chalicelib.store.tables import create_tables
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row

pytestmark = pytest.mark.bench

ROWS = int(os.environ.get("WXM_BENCH_IMPORT_ROWS") or 2_000)
WORKERS = 8
HEADER = "external_id,phone,name,birthday,tier,growth,points"


def _line(n: int) -> str:
    return f"B-{n},139{n:08d},会员{n},1990-01-02,silver,{n % 5000},100@2027-06-30;50@2027-12-31"


def _fresh_tables(embedded_aws: str) -> None:
    requests.post(f"{embedded_aws}/moto-api/reset", timeout=5).raise_for_status()
    get_settings.cache_clear()
    reset_clients()
    create_tables()
    create_queues()


def _timed(text: str, dry_run: bool) -> tuple[Any, Tally, float]:
    started = time.perf_counter()
    with count_dynamodb() as tally:
        report = imports.import_members(text, utc_now(), imports.Options(dry_run=dry_run, workers=WORKERS))
    return report, tally, time.perf_counter() - started


def _bare_batch_write(rows: int) -> tuple[Tally, float]:
    """The same member items, as the import stores them, through BatchWriteItem alone."""
    items = []
    for n in range(rows):
        phone = f"139{n:08d}"
        item = MemberModel(new_member_id(f"B-{n}"), created_at="2026-11-22T02:00:00.000000Z", version=1)
        item.balance, item.ledger_seq, item.growth, item.tier_code = 150, 1, n % 5000, "silver"
        item.nickname, item.birthday, item.birthday_md = f"会员{n}", "1990-01-02", "01-02"
        item.phone_hash, item.phone_enc, item.phone_masked = phone_hash(phone), encrypt_phone(phone), "139****0000"
        items.append(item)
    started = time.perf_counter()
    with count_dynamodb() as tally, MemberModel.batch_write() as batch:
        for item in items:
            batch.save(item)
    return tally, time.perf_counter() - started


def test_import_cost_per_line_against_a_bare_batch_write(embedded_aws: str) -> None:
    text = "\n".join([HEADER, *(_line(n) for n in range(ROWS))]) + "\n"
    _fresh_tables(embedded_aws)

    checked, check_tally, check_seconds = _timed(text, dry_run=True)
    imported, import_tally, import_seconds = _timed(text, dry_run=False)
    again, again_tally, again_seconds = _timed(text, dry_run=False)
    _fresh_tables(embedded_aws)
    bare_tally, bare_seconds = _bare_batch_write(ROWS)

    assert (checked.created, imported.created, again.unchanged) == (ROWS, ROWS, ROWS)
    assert imported.errors == [] and again.errors == []
    per_line = import_tally.total_requests / ROWS
    bare_per_line = bare_tally.total_requests / ROWS
    rate, bare_rate = ROWS / import_seconds, ROWS / bare_seconds
    row(
        f"import {ROWS} new members: DynamoDB requests per line",
        round(per_line, 3),
        "<= 1.05 (1 tx + reads)",
        per_line <= 1.05,
        requests=dict(import_tally.requests),
        items_written_per_line=round(import_tally.items_written / ROWS, 2),
        workers=WORKERS,
    )
    row(
        f"import {ROWS} new members: lines/s vs bare BatchWriteItem of the member items",
        f"{rate:.0f} vs {bare_rate:.0f}",
        "recorded",
        True,
        import_seconds=round(import_seconds, 2),
        bare_seconds=round(bare_seconds, 2),
        bare_requests_per_line=round(bare_per_line, 3),
        requests_ratio=round(per_line / bare_per_line, 1),
        speed_ratio=round(bare_rate / rate, 1),
    )
    again_per_line = again_tally.total_requests / ROWS
    row(
        f"re-import of the same {ROWS} lines: requests per line (0 writes)",
        round(again_per_line, 3),
        "<= 0.05, no write",
        again_per_line <= 0.05 and again_tally.items_written == 0,
        requests=dict(again_tally.requests),
        lines_per_second=round(ROWS / again_seconds),
    )
    row(
        f"dry run of {ROWS} new lines: requests per line",
        round(check_tally.total_requests / ROWS, 3),
        "<= 0.05, no write",
        check_tally.total_requests / ROWS <= 0.05 and check_tally.items_written == 0,
        lines_per_second=round(ROWS / check_seconds),
    )
    assert again_tally.items_written == 0 and check_tally.items_written == 0
