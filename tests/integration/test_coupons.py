"""Coupon templates, claims, the member's coupons and their QR payloads, through the API.

Attacks first: another member's coupon, a member outside the tier, outside the claim window,
a paused template, hostile and absurd definitions; then what operators and members do."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.clock import utc_now
from chalicelib.domain.coupons import Channel, CouponRefused
from chalicelib.domain.errors import InvalidInput
from chalicelib.services import coupons
from chalicelib.store.models import CouponModel, MemberModel
from tests.support.api import Api, dumps, member_headers, operator_headers

NOW = utc_now  # the pinned clock: 2026-11-22 10:00 in Shanghai unless WXM_TEST_NOW says otherwise


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "满200减30",
        "benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 3000},
        "validity": {"kind": "days_after_claim", "days": 7},
        "stock": 100,
    }
    return {**data, **changes}


def create(api: Api, key: str = "t1", operator: str = "alice", **changes: Any) -> Any:
    headers = {**operator_headers(operator), "Idempotency-Key": key}
    return api.http.post("/admin/coupon-templates", body=dumps(body(**changes)), headers=headers)


def template(api: Api, key: str = "t1", **changes: Any) -> str:
    response = create(api, key, **changes)
    assert response.status_code == 201, response.body
    return str(response.json_body["template_id"])


def claim(api: Api, token: str, template_id: str, key: str = "c1") -> Any:
    headers = member_headers(token, **{"Idempotency-Key": key})
    return api.http.post(f"/v1/coupons/{template_id}/claims", body=b"", headers=headers)


def error(response: Any) -> tuple[int, str, list[str]]:
    found = response.json_body["error"]
    return response.status_code, found["code"], [item["field"] for item in found["fields"]]


def mine(api: Api, token: str, status: str = "unused") -> list[dict[str, Any]]:
    response = api.http.get(f"/v1/me/coupons?status={status}", headers=member_headers(token))
    assert response.status_code == 200, response.body
    return list(response.json_body["items"])


# --- attacks -------------------------------------------------------------------------


def test_another_members_coupon_code_is_404_on_every_me_route(api: Api) -> None:
    template_id = template(api)
    owner, _ = api.login("owner")
    thief, _ = api.login("thief")
    code = claim(api, owner, template_id).json_body["code"]

    for path in (f"/v1/me/coupons/{code}", f"/v1/me/coupons/{code}/qr"):
        response = api.http.get(path, headers=member_headers(thief))
        assert error(response) == (404, "coupon_not_found", ["code"]), path
    assert mine(api, thief) == []
    assert api.http.get(f"/v1/me/coupons/{code}/qr", headers=member_headers(owner)).status_code == 200


def test_a_mistyped_or_made_up_code_is_400_or_404_never_someone_elses(api: Api) -> None:
    token, _ = api.login("typo")
    code = claim(api, token, template(api)).json_body["code"]
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert error(api.http.get(f"/v1/me/coupons/{wrong}", headers=member_headers(token)))[0] == 400
    assert error(api.http.get("/v1/me/coupons/not-a-code", headers=member_headers(token)))[1] == "coupon_code_invalid"
    body = "0123456789ABC"
    from chalicelib.domain.coupon_codes import check_character

    unknown = body + check_character(body)
    assert error(api.http.get(f"/v1/me/coupons/{unknown}", headers=member_headers(token)))[:2] == (
        404,
        "coupon_not_found",
    )


def test_a_member_outside_the_tier_restriction_is_403_naming_tiers(api: Api) -> None:
    template_id = template(api, tiers=["gold", "black"])
    normal, _ = api.login("normal")
    gold, gold_id = api.login("gold")
    MemberModel(gold_id).update(actions=[MemberModel.tier_code.set("gold")])

    assert error(claim(api, normal, template_id)) == (403, "coupon_tier_restricted", ["tiers"])
    assert claim(api, gold, template_id).status_code == 201
    offer = api.http.get(f"/v1/coupons/{template_id}", headers=member_headers(normal)).json_body
    assert offer["claimable"] is False and offer["refusal"] == "coupon_tier_restricted"
    assert "仅限金卡、黑金会员领取" in offer["rules"]


def test_claims_outside_the_claim_window_are_409_naming_its_bound(api: Api) -> None:
    now = NOW()
    later = template(api, "later", claim_from=(now + timedelta(hours=1)).isoformat())
    over = template(api, "over", claim_until=(now - timedelta(seconds=1)).isoformat())
    token, _ = api.login("window")

    assert error(claim(api, token, later)) == (409, "coupon_claim_not_started", ["claim_from"])
    assert error(claim(api, token, over, "c2")) == (409, "coupon_claim_ended", ["claim_until"])
    assert mine(api, token) == []
    clock.pin(now + timedelta(hours=1))
    assert claim(api, token, later, "c3").status_code == 201


def test_a_paused_template_refuses_claims_and_grants_and_held_coupons_stay_usable(api: Api) -> None:
    template_id = template(api)
    token, member_id = api.login("paused")
    held = claim(api, token, template_id).json_body
    paused = api.http.post(f"/admin/coupon-templates/{template_id}/pause", headers=operator_headers("bob"))
    assert paused.status_code == 200 and paused.json_body["status"] == "paused"

    assert error(claim(api, token, template_id, "c2")) == (409, "coupon_paused", ["status"])
    with pytest.raises(CouponRefused) as refused:
        coupons.grant(template_id, member_id, "g1", NOW(), source="test")
    assert refused.value.code == "coupon_paused"
    assert claim(api, token, template_id).json_body["code"] == held["code"]  # a retry still answers
    assert api.http.get(f"/v1/me/coupons/{held['code']}/qr", headers=member_headers(token)).status_code == 200
    resumed = api.http.post(f"/admin/coupon-templates/{template_id}/resume", headers=operator_headers("bob"))
    assert resumed.json_body["status"] == "active"
    assert claim(api, token, template_id, "c3").status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": -1}}, "amount_off_fen"),
        ({"benefit": {"kind": "amount_off", "threshold_fen": 0, "amount_off_fen": 1}}, "threshold_fen"),
        ({"benefit": {"kind": "percentage", "rate_percent": 120}}, "rate_percent"),
        ({"benefit": {"kind": "percentage", "rate_percent": 90, "cap_fen": 0}}, "cap_fen"),
        ({"benefit": {"kind": "no_threshold", "amount_off_fen": 100, "threshold_fen": 5}}, "threshold_fen"),
        ({"benefit": {"kind": "amount_off", "threshold_fen": 100, "amount_off_fen": 500}}, "benefit.amount_off_fen"),
        ({"stock": 0}, "stock"),
        ({"stock": 1.0}, "stock"),
        ({"stock_shards": 33}, "stock_shards"),
        ({"tiers": ["diamond"]}, "tiers"),
        ({"per_member_limit": 1, "per_member_daily_limit": 3}, "per_member_daily_limit"),
        ({"scope": {"skus": ["x"] * 501}}, "scope.skus"),
        ({"extra": {"a": [1]}}, "extra"),
    ],
)
def test_a_bad_template_is_400_naming_the_field_and_nothing_is_written(
    api: Api, changes: dict[str, Any], field: str
) -> None:
    status, code, fields = error(create(api, **changes))
    assert (status, code) == (400, "invalid_request")
    assert any(name.endswith(field) for name in fields), fields
    assert api.http.get("/admin/coupon-templates", headers=operator_headers()).json_body["items"] == []


def test_huge_and_nested_template_bodies_are_refused(api: Api) -> None:
    headers = {**operator_headers(), "Idempotency-Key": "huge"}
    nested = b'{"name": ' + b'{"a": ' * 40 + b"1" + b"}" * 40 + b"}"
    assert error(api.http.post("/admin/coupon-templates", body=nested, headers=headers))[2] == ["body"]
    huge = dumps(body(description="长" * 20_000))
    assert api.http.post("/admin/coupon-templates", body=huge, headers=headers).status_code == 413


# --- templates -----------------------------------------------------------------------


def test_an_operator_defines_a_template_once_per_key_audited(api: Api) -> None:
    first = create(api)
    again = create(api)
    other = create(api, stock=5)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json_body["template_id"] == first.json_body["template_id"]
    assert error(other)[:2] == (409, "idempotency_key_reused")
    shown = first.json_body
    assert shown["stock"] == {"stock": 100, "claimed": 0, "remaining": 100} and shown["shards"] == 1
    assert shown["headline"] == "满200减30" and shown["rules"][0] == "订单满200元减30元"
    trail = api.http.get(
        f"/admin/audit?target=coupon_template:{shown['template_id']}", headers=operator_headers("erin")
    )
    assert [entry["after"]["stock"] for entry in trail.json_body["items"]] == [100]
    bigger = create(api, "big", stock=10_000).json_body
    assert bigger["shards"] == 20 and bigger["stock"]["remaining"] == 10_000


def test_an_edit_from_a_stale_version_is_409_and_claimed_coupons_keep_their_terms(api: Api) -> None:
    template_id = template(api, stock=3)
    token, _ = api.login("edit")
    held = claim(api, token, template_id).json_body
    path = f"/admin/coupon-templates/{template_id}"
    renamed = body(name="新名字", stock=2, benefit={"kind": "no_threshold", "amount_off_fen": 500})

    first = api.http.put(path, body=dumps({**renamed, "version": 1}), headers=operator_headers("alice"))
    stale = api.http.put(path, body=dumps({**renamed, "stock": 9, "version": 1}), headers=operator_headers("bob"))
    exact = api.http.put(path, body=dumps({**renamed, "stock": 1, "version": 2}), headers=operator_headers())
    raised = api.http.put(path, body=dumps({**renamed, "stock": 5, "version": 3}), headers=operator_headers())

    assert first.status_code == 200 and first.json_body["version"] == 2
    assert first.json_body["stock"] == {"stock": 2, "claimed": 1, "remaining": 1}
    assert error(stale) == (409, "coupon_template_version_conflict", ["version"])
    assert exact.json_body["stock"] == {"stock": 1, "claimed": 1, "remaining": 0}  # down to what was claimed
    assert raised.json_body["stock"] == {"stock": 5, "claimed": 1, "remaining": 4}
    assert raised.json_body["headline"] == "无门槛减5元"
    kept = api.http.get(f"/v1/me/coupons/{held['code']}", headers=member_headers(token)).json_body
    assert (kept["name"], kept["headline"]) == ("满200减30", "满200减30")  # the terms it was claimed under
    missing = api.http.put("/admin/coupon-templates/ct_none", body=dumps({**renamed, "version": 1}),
                           headers=operator_headers())  # fmt: skip
    assert missing.status_code == 404


def test_lowering_stock_below_what_was_claimed_is_409_naming_stock(api: Api) -> None:
    template_id = template(api, stock=2)
    for name in ("a", "b"):
        token, _ = api.login(name)
        assert claim(api, token, template_id).status_code == 201
    edit = api.http.put(
        f"/admin/coupon-templates/{template_id}",
        body=dumps({**body(stock=1), "version": 1}),
        headers=operator_headers(),
    )
    assert error(edit) == (409, "coupon_stock_below_claimed", ["stock"])


# --- claims ------------------------------------------------------------------------


def test_a_member_claims_once_per_key_and_reads_the_rules_in_chinese(api: Api) -> None:
    template_id = template(api, per_member_limit=5)
    other = template(api, "t2")
    token, member_id = api.login("claimer")

    first = claim(api, token, template_id)
    again = claim(api, token, template_id)
    reused = claim(api, token, other)

    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json_body == again.json_body
    assert error(reused)[:3] == (409, "idempotency_key_reused", ["Idempotency-Key"])
    coupon = first.json_body
    assert coupon["member_id"] == member_id and coupon["status"] == "unused" and len(coupon["code"]) == 14
    assert coupon["rules"][0] == "订单满200元减30元" and any("有效期" in line for line in coupon["rules"])
    assert coupon["valid_until"].endswith("15:59:59Z")  # 23:59:59 in Shanghai
    assert [c["code"] for c in mine(api, token)] == [coupon["code"]]
    shown = api.http.get(f"/admin/coupon-templates/{template_id}", headers=operator_headers("erin")).json_body
    assert shown["stock"] == {"stock": 100, "claimed": 1, "remaining": 99}
    assert error(claim(api, token, "ct_missing", "c9"))[:2] == (404, "coupon_not_found")
    assert error(api.http.post(f"/v1/coupons/{template_id}/claims", body=b"", headers=member_headers(token)))[2] == [
        "Idempotency-Key"
    ]


def test_the_last_coupon_goes_to_one_member_the_next_hears_sold_out(api: Api) -> None:
    template_id = template(api, stock=1)
    first, _ = api.login("first")
    second, _ = api.login("second")

    assert claim(api, first, template_id).status_code == 201
    refused = claim(api, second, template_id)

    assert error(refused) == (409, "coupon_sold_out", ["template_id"])
    assert refused.json_body["error"]["message"] == "优惠券已抢光"
    offer = api.http.get(f"/v1/coupons/{template_id}", headers=member_headers(second)).json_body
    assert offer["sold_out"] is True and offer["refusal"] == "coupon_sold_out"


def test_per_member_limits_hold_in_all_and_per_shanghai_day(api: Api) -> None:
    template_id = template(api, per_member_limit=2, per_member_daily_limit=1)
    token, _ = api.login("limits")

    assert claim(api, token, template_id, "d1").status_code == 201
    assert error(claim(api, token, template_id, "d1b")) == (
        409,
        "coupon_daily_limit_reached",
        ["per_member_daily_limit"],
    )
    clock.pin(NOW() + timedelta(days=1))
    token, _ = api.login("limits")  # a day on: the token expired
    assert claim(api, token, template_id, "d2").status_code == 201
    assert error(claim(api, token, template_id, "d3")) == (409, "coupon_limit_reached", ["per_member_limit"])
    assert len(mine(api, token)) == 2


def test_a_coupon_past_its_end_is_expired_before_any_job(api: Api) -> None:
    template_id = template(api, validity={"kind": "days_after_claim", "days": 1})
    token, _ = api.login("expiry")
    code = claim(api, token, template_id).json_body["code"]
    local = NOW().astimezone(clock_zone())
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)

    clock.pin(midnight - timedelta(seconds=5))
    token, _ = api.login("expiry")  # hours on: the token expired
    clock.pin(midnight - timedelta(milliseconds=500))  # the clock ticks on while the request runs
    assert [c["code"] for c in mine(api, token)] == [code]
    clock.pin(midnight)
    assert mine(api, token) == []
    assert [c["status"] for c in mine(api, token, "expired")] == ["expired"]
    assert error(api.http.get(f"/v1/me/coupons/{code}/qr", headers=member_headers(token)))[:2] == (
        409,
        "coupon_expired",
    )
    assert CouponModel.get(*_keys(code)).status == "unused"  # nothing stored it: the clock decided


def test_the_qr_payload_resolves_to_the_coupon_until_it_expires_and_never_when_tampered(api: Api) -> None:
    template_id = template(api, channel="in_store")
    token, member_id = api.login("qr")
    code = claim(api, token, template_id).json_body["code"]
    shown = api.http.get(f"/v1/me/coupons/{code}/qr", headers=member_headers(token)).json_body

    assert shown["refresh_after_seconds"] == 60
    assert coupons.resolve(shown["payload"], NOW()).member_id == member_id
    assert coupons.resolve(code.lower(), NOW()).code == code  # typed at the counter
    prefix, _, expires, signature = shown["payload"].split(".")
    with pytest.raises(InvalidInput) as tampered:
        coupons.resolve(f"{prefix}.{code}.{int(expires) + 600}.{signature}", NOW())
    assert tampered.value.field == "payload"
    clock.pin(NOW() + timedelta(seconds=91))
    with pytest.raises(InvalidInput) as expired:
        coupons.resolve(shown["payload"], NOW())
    assert expired.value.code == "coupon_payload_expired"
    fresh = api.http.get(f"/v1/me/coupons/{code}/qr", headers=member_headers(token)).json_body["payload"]
    assert fresh != shown["payload"] and coupons.resolve(fresh, NOW()).code == code


def test_a_mini_program_coupon_has_no_counter_qr_and_usable_coupons_follow_channel_and_store(api: Api) -> None:
    online = template(api, "online", channel="mini_program")
    store = template(api, "store", channel="in_store", scope={"stores": ["S1"]})
    token, member_id = api.login("usable")
    online_code = claim(api, token, online, "o").json_body["code"]
    store_code = claim(api, token, store, "s").json_body["code"]

    assert error(api.http.get(f"/v1/me/coupons/{online_code}/qr", headers=member_headers(token)))[1] == (
        "coupon_not_in_store"
    )
    at_s1 = coupons.usable_coupons(member_id, NOW(), "S1", Channel.IN_STORE)
    at_s2 = coupons.usable_coupons(member_id, NOW(), "S2", Channel.IN_STORE)
    online_now = coupons.usable_coupons(member_id, NOW(), None, Channel.MINI_PROGRAM)
    assert [c.code for c in at_s1] == [store_code] and at_s2 == []
    assert [c.code for c in online_now] == [online_code]


def test_an_operator_grants_a_coupon_once_per_key_outside_the_tier_and_within_stock(api: Api) -> None:
    template_id = template(api, stock=1, tiers=["gold"])
    _, member_id = api.login("granted")
    _, other_id = api.login("other")
    path = f"/admin/coupon-templates/{template_id}/grants"
    headers = {**operator_headers("bob"), "Idempotency-Key": "g1"}

    first = api.http.post(path, body=dumps({"member_id": member_id}), headers=headers)
    again = api.http.post(path, body=dumps({"member_id": member_id}), headers=headers)
    sold_out = api.http.post(path, body=dumps({"member_id": other_id}), headers={**headers, "Idempotency-Key": "g2"})

    assert (first.status_code, again.status_code) == (201, 201) and first.json_body == again.json_body
    assert error(sold_out)[:2] == (409, "coupon_sold_out")
    # the service is idempotent by its grant key (what the route made of the Idempotency-Key)
    assert coupons.grant(template_id, member_id, "operator:bob:g1", NOW(), source="x").code == first.json_body["code"]
    missing = api.http.post(path, body=dumps({"member_id": "m_nobody"}), headers={**headers, "Idempotency-Key": "g3"})
    assert missing.status_code == 404
    trail = api.http.get(f"/admin/audit?target=member:{member_id}", headers=operator_headers("erin")).json_body
    assert [entry["after"]["template_id"] for entry in trail["items"]] == [template_id]  # the replay wrote none


def test_the_list_filter_and_limit_are_validated(api: Api) -> None:
    token, _ = api.login("query")
    assert error(api.http.get("/v1/me/coupons?status=all", headers=member_headers(token)))[2] == ["status"]
    assert error(api.http.get("/v1/me/coupons?limit=1000", headers=member_headers(token)))[2] == ["limit"]


def clock_zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def _keys(code: str) -> tuple[str, str]:
    from chalicelib.store.models import CouponCodeModel

    owner = CouponCodeModel.get(code)
    return owner.member_id, owner.coupon_id


def test_every_coupon_error_code_has_a_text_in_the_members_language() -> None:
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    messages = json.loads((root / "chalicelib" / "config" / "messages.zh-CN.json").read_text(encoding="utf-8"))
    sources = [path.read_text(encoding="utf-8") for path in (root / "chalicelib").rglob("coupon*.py")]
    codes = {code for text in sources for code in re.findall(r'"(coupon_[a-z_]+)"', text)} - {"coupon_id"}
    codes |= {"coupon_used", "coupon_expired"}  # f"coupon_{state}" in services/coupons.qr

    assert len(codes) >= 15
    assert sorted(code for code in codes if code not in messages) == []
