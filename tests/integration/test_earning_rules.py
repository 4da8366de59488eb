"""Earning rules from the published programme: 会员日 on the 15th in Shanghai time, store / SKU /
category promotions, exclusions, the minimum order, best vs stack, the tier multiplier, the
explanation in the member's ledger, order lines, and refunds by line."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib import clock
from chalicelib.domain import keys
from chalicelib.domain.programme import Programme
from chalicelib.services import programme
from chalicelib.services.reconcile import reconcile
from chalicelib.store import points_repo, programme_repo
from tests.support.api import POS_SECRETS, Api, dumps, member_headers, pos_headers

SHANGHAI = ZoneInfo("Asia/Shanghai")
RULES: dict[str, Any] = {
    "name": "积分规则",
    "tiers": [
        {"code": "normal", "name": "普通会员", "min_growth": 0},
        {"code": "silver", "name": "银卡", "min_growth": 3000, "benefits": {"points_multiplier": 200}},
        {"code": "gold", "name": "金卡", "min_growth": 15000},
        {"code": "black", "name": "黑金", "min_growth": 50000},
    ],
    "default_tier": "normal",
    "earning": {
        "min_order_fen": 1_000,
        "excluded_skus": ["GIFTCARD"],
        "excluded_categories": ["tobacco"],
        "combine": "stack",
        "promotions": [
            {"code": "d15", "name": "会员日", "days_of_month": [15], "multiplier": 200, "priority": 10},
            {"code": "flagship", "name": "旗舰店", "store_ids": ["SH-01"], "bonus_points": 20, "priority": 5},
            {"code": "tea", "name": "新茶", "skus": ["TEA-1"], "multiplier": 300, "priority": 3},
            {"code": "snack", "name": "零食节", "categories": ["snack"], "bonus_points": 5, "priority": 2},
            {"code": "weekend", "name": "周末", "weekdays": [6, 7], "multiplier": 150, "priority": 1},
        ],
    },
    "points": {"expiry": "rolling:12"},
}
WEDNESDAY = datetime(2026, 12, 16, 10, 0, tzinfo=SHANGHAI)


def publish(document: dict[str, Any], base: int | None = None) -> None:
    stored = Programme.model_validate(document, strict=False).model_dump(mode="json")
    programme_repo.publish(base, stored, "2026-12-01T00:00:00Z", "tests", None)
    programme.forget()


def at(when: datetime) -> str:
    clock.pin(when)
    return when.isoformat()


def line(line_id: str, amount: int, sku: str = "CUP", category: str | None = None) -> dict[str, Any]:
    return {"line_id": line_id, "sku": sku, "category": category, "quantity": 1, "amount_fen": amount}


def lined_order(api: Api, order_id: str, member_id: str, lines: list[dict[str, Any]], **extra: Any) -> Any:
    return api.order(
        order_id, {"member_id": member_id}, sum(item["amount_fen"] for item in lines), lines=lines, **extra
    )


def recorded_lines(order_id: str) -> dict[str, dict[str, Any]]:
    entry = points_repo.get_entry(keys.order_entry(order_id))
    assert entry is not None
    return {item["line_id"]: item for item in entry.detail["lines"]}


def ledger(api: Api, token: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.http.get("/v1/me/points/ledger", headers=member_headers(token)).json_body["items"]
    return items


def balance(api: Api, token: str) -> int:
    return int(api.me(token).json_body["points"]["balance"])


def fields(response: Any) -> list[str]:
    return [item["field"] for item in response.json_body["error"]["fields"]]


def test_member_day_is_the_15th_in_shanghai_time_on_either_side_of_midnight(api: Api) -> None:
    publish(RULES)
    clock.pin(datetime(2026, 12, 15, 0, 10, tzinfo=SHANGHAI))
    _, member_id = api.login("d15")
    member = {"member_id": member_id}

    before = api.order("D-1", member, 10_000, paid_at="2026-12-14T23:59:00+08:00")
    after = api.order("D-2", member, 10_000, paid_at="2026-12-15T00:01:00+08:00")
    in_utc = api.order("D-3", member, 10_000, paid_at="2026-12-14T16:05:00Z")  # 00:05 on the 15th in Shanghai
    clock.pin(datetime(2026, 12, 16, 0, 3, tzinfo=SHANGHAI))
    reported_late = api.order("D-4", member, 10_000, paid_at="2026-12-15T23:58:00+08:00")
    next_day = api.order("D-5", member, 10_000, paid_at="2026-12-16T00:01:00+08:00")

    earned = [r.json_body["points_earned"] for r in (before, after, in_utc, reported_late, next_day)]
    assert earned == [100, 200, 200, 200, 100]


def test_promotions_are_scoped_by_store_sku_and_category_and_exclusions_earn_nothing(api: Api) -> None:
    publish(RULES)
    at(WEDNESDAY)
    _, member_id = api.login("scope")
    basket = [
        line("tea", 1_000, "TEA-1"),
        line("pot", 500, "POT", "snack"),
        line("gift", 10_000, "GIFTCARD"),
        line("cig", 2_000, "CIG", "tobacco"),
        line("cup", 2_000),
    ]

    flagship = lined_order(api, "S-1", member_id, basket, store_id="SH-01")
    elsewhere = lined_order(api, "S-2", member_id, basket, store_id="BJ-01")

    # eligible ¥35 → base 35; 旗舰店 +20; 新茶: the tea line's base 10 × (300 % - 100 %) = +20; 零食节 +5
    assert (flagship.json_body["points_earned"], elsewhere.json_body["points_earned"]) == (80, 60)
    lines = recorded_lines("S-1")
    assert (lines["gift"]["earned"], lines["cig"]["earned"]) == (0, 0)
    assert sum(item["earned"] for item in lines.values()) == 80
    assert lines["tea"]["earned"] > lines["cup"]["earned"]  # the tea line carries 新茶's extra


def test_below_the_minimum_order_after_exclusions_nothing_is_earned_and_the_ledger_says_why(api: Api) -> None:
    publish(RULES)
    at(WEDNESDAY)
    token, member_id = api.login("minimum")

    small = api.order("M-1", {"member_id": member_id}, 999)
    mostly_excluded = lined_order(api, "M-2", member_id, [line("gift", 50_000, "GIFTCARD"), line("cup", 900)])
    enough = api.order("M-3", {"member_id": member_id}, 1_000)

    assert [r.json_body["points_earned"] for r in (small, mostly_excluded, enough)] == [0, 0, 10]
    assert ledger(api, token)[1]["explanation"] == "未达起积金额（满 ¥10 起积）"


def test_best_keeps_the_promotion_giving_most_stack_adds_them_all(api: Api) -> None:
    publish(RULES)
    clock.pin(datetime(2026, 12, 15, 10, 0, tzinfo=SHANGHAI))
    _, member_id = api.login("combine")
    basket = [line("tea", 5_000, "TEA-1"), line("cup", 5_000)]
    stacked = lined_order(api, "C-1", member_id, basket, store_id="SH-01")
    best = copy.deepcopy(RULES)
    best["earning"]["combine"] = "best"
    publish(best, base=1)
    single = lined_order(api, "C-2", member_id, basket, store_id="SH-01")

    # base 100; 会员日 +100, 旗舰店 +20, 新茶 +100 (tea's base 50 × 2): best is a tie of 会员日 and
    # 新茶 at 100, and 会员日 has the higher priority.
    assert (stacked.json_body["points_earned"], single.json_body["points_earned"]) == (320, 200)
    explained = points_repo.get_entry(keys.order_entry("C-2")).detail["explanation"]  # type: ignore[union-attr]
    assert explained == [{"rule": "base", "points": 100}, {"rule": "promotion:d15", "points": 100}]


def test_the_tier_at_the_order_counts_and_the_ledger_explains_each_rule(api: Api) -> None:
    publish(RULES)
    clock.pin(datetime(2026, 12, 15, 10, 0, tzinfo=SHANGHAI))
    token, member_id = api.login("tiered")

    upgrading = api.order("T-1", {"member_id": member_id}, 300_000)  # 3000 growth: silver from now on
    silver = api.order("T-2", {"member_id": member_id}, 10_000, store_id="SH-01")
    assert api.redeem(token, 10, "k-1").status_code == 201

    assert (upgrading.json_body["points_earned"], silver.json_body["points_earned"]) == (6_000, 320)
    items = ledger(api, token)
    assert [item["explanation"] for item in items] == [
        None,
        "基础 100 + 银卡×2 100 + 会员日 100 + 旗舰店 20",
        "基础 3000 + 会员日 3000",
    ]
    assert list(reconcile([member_id])) == []


def test_order_lines_that_do_not_add_up_or_repeat_an_id_are_400_naming_lines(api: Api) -> None:
    publish(RULES)
    at(WEDNESDAY)
    token, member_id = api.login("badlines")
    cases = [
        ({"amount_fen": 1_000, "lines": [line("a", 600), line("b", 300)]}, "lines"),
        ({"amount_fen": 1_000, "lines": [line("a", 500), line("a", 500)]}, "lines"),
        ({"amount_fen": 0, "lines": []}, "lines"),
        ({"amount_fen": 101, "lines": [line(f"l{n}", 1) for n in range(101)]}, "lines"),
        ({"amount_fen": 1_000, "lines": [{**line("a", 1_000), "price": 1}]}, "lines.0.price"),
        ({"amount_fen": 1_000, "lines": [{**line("a", 1_000), "quantity": 0}]}, "lines.0.quantity"),
        ({"amount_fen": 1_000, "lines": [{**line("a b", 1_000)}]}, "lines.0.line_id"),
        ({"amount_fen": 1_000, "lines": [{**line("a", 1_000), "sku": "x" * 65}]}, "lines.0.sku"),
        ({"amount_fen": 1_000, "lines": {"a": 1_000}}, "lines"),
    ]
    for payload, field in cases:
        body = dumps({"order_id": "BAD-1", "member": {"member_id": member_id}, "paid_at": at(WEDNESDAY), **payload})
        response = api.http.post("/v1/orders", body=body, headers=pos_headers("POST", "/v1/orders", body))
        assert response.status_code == 400, payload
        assert field in fields(response), (field, fields(response))
    assert balance(api, token) == 0 and points_repo.get_entry(keys.order_entry("BAD-1")) is None


def test_a_line_refund_reverses_exactly_that_lines_points_once(api: Api) -> None:
    publish(RULES)
    clock.pin(datetime(2026, 12, 15, 10, 0, tzinfo=SHANGHAI))
    token, member_id = api.login("linerefund")
    basket = [line("tea", 3_333, "TEA-1"), line("pot", 1_234, "POT", "snack"), line("cup", 5_433)]
    earned = lined_order(api, "L-1", member_id, basket, store_id="SH-01").json_body["points_earned"]
    lines = recorded_lines("L-1")

    answers = [api.refund("L-1", {"refund_id": "r-tea", "lines": [{"line_id": "tea", "amount_fen": 3_333}]})
               for _ in range(3)]  # fmt: skip
    steps = [api.refund("L-1", {"refund_id": f"r-pot-{n}", "lines": [{"line_id": "pot", "amount_fen": 411}]})
             for n in range(3)]  # fmt: skip
    again = api.refund("L-1", {"refund_id": "r-tea-2", "lines": [{"line_id": "tea", "amount_fen": 1}]})

    assert [a.status_code for a in answers] == [200] * 3
    assert all(a.json_body == answers[0].json_body for a in answers)
    assert answers[0].json_body["points_reversed"] == lines["tea"]["earned"]
    assert sum(s.json_body["points_reversed"] for s in steps) < lines["pot"]["earned"]  # 1233 of 1234 fen
    assert again.status_code == 409 and fields(again) == ["lines"]
    assert balance(api, token) == earned - lines["tea"]["earned"] - sum(s.json_body["points_reversed"] for s in steps)
    tallies = {line_id: item["refunded_fen"] for line_id, item in recorded_lines("L-1").items()}
    assert tallies == {"tea": 3_333, "pot": 1_233, "cup": 0}

    rest = api.refund("L-1", {})
    assert rest.status_code == 200 and rest.json_body["refund_fen"] == 1 + 5_433
    assert balance(api, token) == 0
    assert all(item["refunded_fen"] == item["amount_fen"] for item in recorded_lines("L-1").values())
    assert list(reconcile([member_id])) == []


def test_a_refund_naming_no_lines_of_a_lined_order_is_proportional_line_by_line(api: Api) -> None:
    publish(RULES)
    at(WEDNESDAY)
    token, member_id = api.login("propline")
    lined_order(api, "P-1", member_id, [line("a", 6_000), line("b", 4_000)])

    half = api.refund("P-1", {"refund_id": "half", "amount_fen": 5_000})
    mixed = api.refund(
        "P-1", {"refund_id": "mix", "amount_fen": 1_000, "lines": [{"line_id": "a", "amount_fen": 1_000}]}
    )
    rest = api.refund("P-1", {})

    assert [r.json_body["points_reversed"] for r in (half, mixed, rest)] == [50, 10, 40]
    assert {k: v["refunded_fen"] for k, v in recorded_lines("P-1").items()} == {"a": 6_000, "b": 4_000}
    assert balance(api, token) == 0


def test_line_refunds_that_cannot_be_are_refused_naming_the_field_and_change_nothing(api: Api) -> None:
    publish(RULES)
    at(WEDNESDAY)
    token, member_id = api.login("refusals")
    api.order("N-1", {"member_id": member_id}, 10_000)  # no lines
    lined_order(api, "N-2", member_id, [line("a", 6_000), line("b", 4_000)])
    held = balance(api, token)
    cases = [
        ("N-1", {"refund_id": "x1", "lines": [{"line_id": "a", "amount_fen": 100}]}, 400, "lines"),
        ("N-2", {"refund_id": "x2", "lines": [{"line_id": "zz", "amount_fen": 100}]}, 400, "lines"),
        ("N-2", {"refund_id": "x3", "amount_fen": 200, "lines": [{"line_id": "a", "amount_fen": 100}]}, 400, "lines"),
        ("N-2", {"lines": [{"line_id": "a", "amount_fen": 100}]}, 400, "refund_id"),
        ("N-2", {"refund_id": "x4", "lines": [{"line_id": "a", "amount_fen": 50}, {"line_id": "a", "amount_fen": 50}]},
         400, "lines"),
        ("N-2", {"refund_id": "x5", "lines": [{"line_id": "a", "amount_fen": 6_001}]}, 409, "lines"),
        ("N-2", {"refund_id": "x6", "lines": [{"line_id": "a", "amount_fen": 0}]}, 400, "lines.0.amount_fen"),
        ("N-2", {"refund_id": "x7", "lines": []}, 400, "lines"),
    ]  # fmt: skip
    for order_id, payload, status, field in cases:
        response = api.refund(order_id, payload)
        assert response.status_code == status, payload
        assert field in fields(response), (payload, fields(response))
    assert balance(api, token) == held


def test_a_line_refund_by_another_pos_client_or_reusing_a_refund_id_changes_nothing(api: Api) -> None:
    publish(RULES)
    at(WEDNESDAY)
    token, member_id = api.login("linethief")
    lined_order(api, "X-1", member_id, [line("a", 6_000), line("b", 4_000)])
    path = "/v1/orders/X-1/refund"
    body = dumps({"refund_id": "r1", "lines": [{"line_id": "a", "amount_fen": 6_000}]})
    other = api.http.post(
        path, body=body, headers=pos_headers("POST", path, body, client=("pos-2", POS_SECRETS["pos-2"]))
    )
    first = api.refund("X-1", {"refund_id": "r1", "lines": [{"line_id": "a", "amount_fen": 6_000}]})
    reused = api.refund("X-1", {"refund_id": "r1", "lines": [{"line_id": "b", "amount_fen": 4_000}]})

    assert other.status_code == 403 and first.status_code == 200
    assert (
        reused.status_code == 409
        and json.loads(json.dumps(reused.json_body))["error"]["code"] == "idempotency_key_reused"
    )
    assert balance(api, token) == 40
