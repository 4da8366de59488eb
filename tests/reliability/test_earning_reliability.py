"""Refunds by line under concurrency: different lines of one order refunded at once, in steps,
each request also sent twice at once. Exactly what each line earned comes back, once."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain import keys
from chalicelib.domain.earning import OrderLine
from chalicelib.domain.members import Member
from chalicelib.domain.programme import Programme
from chalicelib.services import orders, programme
from chalicelib.services.reconcile import reconcile
from chalicelib.store import members_repo, points_repo, programme_repo
from tests.support.race import retrying

NOW = datetime(2026, 12, 15, 4, 0, tzinfo=UTC)  # the 15th in Shanghai: 会员日
PROGRAMME: dict[str, Any] = {
    "name": "退款压力",
    "tiers": [{"code": "normal", "name": "普通会员", "min_growth": 0}],
    "default_tier": "normal",
    "earning": {
        "points_per_unit": 3,
        "unit_fen": 700,
        "rounding": "round",
        "combine": "stack",
        "promotions": [
            {"code": "d15", "name": "会员日", "days_of_month": [15], "multiplier": 175},
            {"code": "tea", "name": "新茶", "skus": ["TEA"], "bonus_points": 37},
        ],
    },
}


def test_concurrent_refunds_of_different_lines_take_back_exactly_what_each_line_earned(tables: None) -> None:
    stored = Programme.model_validate(PROGRAMME, strict=False).model_dump(mode="json")
    programme_repo.publish(None, stored, "2026-12-01T00:00:00Z", "tests", None)
    programme.forget()
    members_repo.create_member(Member("m_lines", "2026-01-01T00:00:00Z"), ["mini:o_lines"])
    rng = random.Random(14)
    lines = tuple(
        OrderLine(f"l{n}", "TEA" if n % 3 == 0 else f"S{n}", None, rng.randint(1_001, 9_999)) for n in range(8)
    )
    amount = sum(line.amount_fen for line in lines)
    earned = orders.record_order(
        "RL-1", orders.MemberRef(member_id="m_lines"), amount, NOW, None, NOW, pos_client="pos-1", lines=lines
    ).points_earned
    # Each line in three steps (the last one takes what is left); every request sent twice.
    requests: list[tuple[str, dict[str, int]]] = []
    for line in lines:
        first, second = line.amount_fen // 3, line.amount_fen // 3
        for step, fen in enumerate((first, second, line.amount_fen - first - second)):
            requests.append((f"{line.line_id}-{step}", {line.line_id: fen}))
    calls = [request for request in requests for _ in range(2)]
    rng.shuffle(calls)

    def refund(request: tuple[str, dict[str, int]]) -> orders.RefundResult:
        refund_id, by_line = request
        return retrying(lambda: orders.refund_order("RL-1", refund_id, None, NOW, "pos-1", lines=by_line))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(refund, calls))

    reversed_by_id = {result.refund_id: result.points_reversed for result in results}
    assert len(reversed_by_id) == len(requests)  # two answers per refund_id, one effect
    assert all(reversed_by_id[r.refund_id] == r.points_reversed for r in results)
    order = points_repo.get_entry(keys.order_entry("RL-1"))
    assert order is not None and order.refunded_fen == amount
    recorded = order.detail["lines"]
    assert all(item["refunded_fen"] == item["amount_fen"] for item in recorded)
    for item in recorded:
        taken = sum(
            points for refund_id, points in reversed_by_id.items() if refund_id.startswith(f"{item['line_id']}-")
        )
        assert taken == item["earned"], item
    assert sum(reversed_by_id.values()) == earned
    assert members_repo.get_member("m_lines").balance == 0
    assert list(reconcile(["m_lines"])) == []
