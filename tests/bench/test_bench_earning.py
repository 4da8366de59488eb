"""Earning rules cost nothing in DynamoDB: requests per earned order with the configured
programme (no rules) and with a published one of 5 active promotions, lines, exclusions and a
tier multiplier, on a warm programme cache. The rules are pure; the one extra read is the
member's, for a member whose tier earns otherwise than the default tier (services/earning.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.earning import OrderLine
from chalicelib.domain.members import Member
from chalicelib.domain.programme import Programme
from chalicelib.services import orders, programme
from chalicelib.store import members_repo, programme_repo
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row

pytestmark = pytest.mark.bench

NOW = datetime(2026, 12, 15, 4, 0, tzinfo=UTC)  # the 15th in Shanghai: 会员日 is in force
FIVE_RULES: dict[str, Any] = {
    "name": "五条规则",
    "tiers": [
        {"code": "normal", "name": "普通会员", "min_growth": 0},
        {"code": "silver", "name": "银卡", "min_growth": 3000, "benefits": {"points_multiplier": 200}},
    ],
    "default_tier": "normal",
    "earning": {
        "min_order_fen": 1_000,
        "excluded_skus": ["GIFTCARD"],
        "combine": "stack",
        "promotions": [
            {"code": "d15", "name": "会员日", "days_of_month": [15], "multiplier": 200},
            {"code": "tue", "name": "周二", "weekdays": [2], "bonus_points": 10},
            {"code": "tea", "name": "新茶", "skus": ["TEA"], "multiplier": 300},
            {"code": "snack", "name": "零食节", "categories": ["snack"], "bonus_points": 5},
            {"code": "dec", "name": "年末", "starts_on": "2026-12-01", "ends_on": "2026-12-31", "multiplier": 150},
        ],
    },
}
LINES = (
    OrderLine("1", "TEA", "tea", 30_000),
    OrderLine("2", "CHIPS", "snack", 20_000),
    OrderLine("3", "GIFTCARD", None, 50_000),
)


def _earn(order_id: str, member_id: str, lines: tuple[OrderLine, ...] = ()) -> Tally:
    programme.current()  # warm: the cache's read is not the earning's
    ref = orders.MemberRef(member_id=member_id)
    with count_dynamodb() as tally:
        orders.record_order(order_id, ref, 100_000, NOW, "SH-01", NOW, pos_client="pos-1", lines=lines)
    return tally


def test_dynamodb_requests_per_earn_with_five_active_rules_vs_none(tables: None) -> None:
    for member_id in ("m_plain", "m_rules", "m_silver"):
        members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:o_{member_id}"])
    none = _earn("BE-0", "m_plain")
    stored = Programme.model_validate(FIVE_RULES, strict=False).model_dump(mode="json")
    programme_repo.publish(None, stored, "2026-12-01T00:00:00Z", "bench", None)
    programme.forget()
    five = _earn("BE-1", "m_rules", LINES)
    orders.record_order(
        "BE-up", orders.MemberRef(member_id="m_silver"), 300_000, NOW, None, NOW, pos_client="pos-1"
    )  # 3000 growth: silver, ×2
    silver = _earn("BE-2", "m_silver", LINES)

    same = five.total_requests == none.total_requests and five.items_written == none.items_written
    row(
        "earn: 5 active rules vs none (requests)",
        f"{five.total_requests} vs {none.total_requests}",
        "equal",
        same,
        rules=five.as_dict(),
        none=none.as_dict(),
    )
    row(
        "earn: member at a ×2 tier (requests)",
        f"{silver.total_requests} vs {five.total_requests}",
        "<= +1 read",
        silver.total_requests <= five.total_requests + 1 and silver.items_written == five.items_written,
        silver=silver.as_dict(),
    )
    assert none.requests["TransactWriteItems"] == five.requests["TransactWriteItems"] == 1
