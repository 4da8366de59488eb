"""The programme as data: published in versions, validated naming the field, audited, and
read through a cache that costs nothing on a warm request."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.domain.programme import Programme
from chalicelib.services import programme
from chalicelib.store import programme_repo
from tests.bench.counting import count_dynamodb
from tests.support.api import Api, dumps, operator_headers

DEMO: dict[str, Any] = {
    "name": "演示方案",
    "tiers": [
        {"code": "normal", "name": "普通会员", "min_growth": 0},
        {
            "code": "silver",
            "name": "银卡",
            "min_growth": 3000,
            "benefits": {"points_multiplier": 200, "discount_rate": 95},
        },
        {"code": "gold", "name": "金卡", "min_growth": 15000, "benefits": {"discount_rate": 90}},
        {"code": "black", "name": "黑金", "min_growth": 50000},
    ],
    "default_tier": "normal",
    "earning": {"points_per_unit": 1, "unit_fen": 1000},
    "points": {"expiry": "rolling:12", "min_redeem_points": 500},
}


def _put(api: Api, document: dict[str, Any], base: int | None, operator: str = "alice") -> Any:
    body = dumps({"base_version": base, "note": "test", "programme": document})
    return api.http.put("/admin/programme", body=body, headers=operator_headers(operator))


def test_before_anything_is_published_the_configured_programme_is_in_force(api: Api) -> None:
    shown = api.http.get("/admin/programme", headers=operator_headers("erin")).json_body

    assert shown["version"] is None
    assert [tier["code"] for tier in shown["programme"]["tiers"]] == ["normal", "silver", "gold", "black"]
    assert shown["programme"]["earning"]["unit_fen"] == 100


def test_a_published_version_is_in_force_with_its_history_diff_and_audit_entry(api: Api) -> None:
    first = _put(api, DEMO, None)
    changed = json.loads(json.dumps(DEMO))
    changed["tiers"][1]["benefits"]["discount_rate"] = 90
    second = _put(api, changed, 1, operator="bob")

    history = api.http.get("/admin/programme/versions", headers=operator_headers("erin")).json_body["items"]
    diff = api.http.get("/admin/programme/diff?from=1&to=2", headers=operator_headers("erin")).json_body
    trail = api.http.get("/admin/audit?target=programme:default", headers=operator_headers("erin")).json_body

    assert (first.status_code, second.status_code) == (201, 201)
    assert programme.current().tier("silver").benefits.discount_rate == 90  # type: ignore[union-attr]
    assert [(v["version"], v["created_by"]) for v in history] == [(2, "bob"), (1, "alice")]
    assert diff["changes"] == [{"path": "tiers.1.benefits.discount_rate", "before": 95, "after": 90}]
    assert [e["after"]["version"] for e in trail["items"]] == [2, 1]
    assert trail["items"][0]["after"]["changed"] == ["tiers.1.benefits.discount_rate"]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d["tiers"][1].update(min_growth=0), "programme.tiers"),
        (lambda d: d.update(default_tier="vip"), "programme.default_tier"),
        (lambda d: d["tiers"][1]["benefits"].update(points_multiplier=50), "programme.tiers.1.benefits.points_multiplier"),
        (lambda d: d["earning"].update(unit_fen=0), "programme.earning.unit_fen"),
        (lambda d: d["earning"].update(promotions=[{"code": "d15", "name": "会员日", "days_of_month": [15]}]),
         "programme.earning.promotions.0"),
        (lambda d: d["points"].update(expiry="rolling:twelve"), "programme.points.expiry"),
        (lambda d: d.update(surprise=1), "programme.surprise"),
    ],
)  # fmt: skip
def test_a_bad_programme_is_refused_naming_the_field(api: Api, edit: Any, field: str) -> None:
    document = json.loads(json.dumps(DEMO))
    edit(document)

    response = _put(api, document, None)

    assert response.status_code == 400
    assert field in [f["field"] for f in response.json_body["error"]["fields"]]
    assert programme_repo.current_version() is None


def test_two_editors_from_the_same_version_one_wins_the_other_is_told(api: Api) -> None:
    _put(api, DEMO, None)

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(lambda who: _put(api, DEMO, 1, operator=who).status_code, ["alice", "bob"]))

    assert statuses == [201, 409]
    assert programme_repo.current_version() == 2


def test_an_auditor_reads_and_cannot_publish(api: Api) -> None:
    assert _put(api, DEMO, None, operator="erin").status_code == 403
    assert api.http.get("/admin/programme", headers=operator_headers("erin")).status_code == 200


def test_a_warm_read_costs_nothing_and_a_change_is_seen_within_the_cache_time(api: Api, pinned_clock: Any) -> None:
    read_at = clock.utc_now()
    programme.current()
    with count_dynamodb() as warm:
        programme.current()
    # Another container published: this one's copy is not told, it notices by time.
    programme_repo.publish(None, Programme.model_validate(DEMO, strict=False).model_dump(mode="json"), "t", "x", None)
    clock.pin(read_at + timedelta(seconds=29))
    before_expiry = programme.current().name
    clock.pin(read_at + timedelta(seconds=31))
    after_expiry = programme.current().name

    assert warm.total_requests == 0
    assert (before_expiry, after_expiry) == ("configured", "演示方案")
