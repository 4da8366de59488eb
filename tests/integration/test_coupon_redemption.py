"""Redemption (核销) at the counter and return (退券), through the API and the service functions.

Attacks first: a second use, another store, the wrong channel, the end of the window at
Shanghai midnight, a stale or tampered QR payload, another member's coupon, a member's token
on the staff route, another POS client's return; then what staff, the POS and checkout do."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib import clock
from chalicelib.clock import utc_now
from chalicelib.domain import coupon_codes
from chalicelib.domain.coupon_use import CouponAlreadyUsed, ReturnPolicy
from chalicelib.domain.coupons import Channel, CouponRefused, CouponStatus
from chalicelib.security.tokens import issue_token
from chalicelib.services import coupon_redemption, coupons
from chalicelib.settings import get_settings
from chalicelib.store import coupons_repo
from chalicelib.store.models import CouponModel, OutboxModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork
from tests.support.api import Api, dumps, member_headers, operator_headers, pos_headers

SHANGHAI = ZoneInfo("Asia/Shanghai")
REDEEM = "/v1/staff/coupons/redemptions"
POS_REDEEM = "/v1/pos/coupons/redemptions"


def template(api: Api, key: str, **changes: Any) -> str:
    data: dict[str, Any] = {
        "name": "满200减30",
        "benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 3000},
        "validity": {"kind": "days_after_claim", "days": 7},
        "stock": 100,
        **changes,
    }
    headers = {**operator_headers(), "Idempotency-Key": key}
    response = api.http.post("/admin/coupon-templates", body=dumps(data), headers=headers)
    assert response.status_code == 201, response.body
    return str(response.json_body["template_id"])


def held(api: Api, name: str, template_id: str, key: str = "c1") -> tuple[str, dict[str, Any]]:
    """A member (token) and a coupon they claimed."""
    token, _ = api.login(name)
    headers = member_headers(token, **{"Idempotency-Key": key})
    response = api.http.post(f"/v1/coupons/{template_id}/claims", body=b"", headers=headers)
    assert response.status_code == 201, response.body
    return token, dict(response.json_body)


def staff_headers(userid: str = "zhangsan", **extra: str) -> dict[str, str]:
    token, _ = issue_token(userid, "staff", utc_now())
    return member_headers(token, **extra)


def redeem(api: Api, body: dict[str, Any], userid: str = "zhangsan", **headers: str) -> Any:
    return api.http.post(REDEEM, body=dumps(body), headers=staff_headers(userid, **headers))


def pos_call(api: Api, path: str, payload: dict[str, Any], client: tuple[str, str] | None = None) -> Any:
    body = dumps(payload)
    return api.http.post(path, body=body, headers=pos_headers("POST", path, body, client=client))


def error(response: Any) -> tuple[int, str, list[str]]:
    found = response.json_body["error"]
    return response.status_code, found["code"], [item["field"] for item in found["fields"]]


def stored(coupon: dict[str, Any]) -> CouponModel:
    return CouponModel.get(coupon["member_id"], coupon["coupon_id"], consistent_read=True)


def qr(api: Api, token: str, code: str) -> str:
    response = api.http.get(f"/v1/me/coupons/{code}/qr", headers=member_headers(token))
    assert response.status_code == 200, response.body
    return str(response.json_body["payload"])


def last_second_today() -> datetime:
    """23:59:59 in Shanghai of the pinned day."""
    return datetime.combine(utc_now().astimezone(SHANGHAI).date(), time(23, 59, 59), tzinfo=SHANGHAI)


# --- attacks ---------------------------------------------------------------------------------


def test_a_second_redemption_is_409_naming_who_used_it_when_and_where(api: Api) -> None:
    _, coupon = held(api, "twice", template(api, "t1"))

    first = redeem(api, {"code": coupon["code"], "store_id": "S1"})
    second = redeem(api, {"code": coupon["code"], "store_id": "S2"}, userid="lisi")

    assert first.status_code == 200, first.body
    assert (first.json_body["used_by"], first.json_body["used_store"]) == ("zhangsan", "S1")
    assert first.json_body["replayed"] is False and first.json_body["headline"] == "满200减30"
    status, code, fields = error(second)
    assert (status, code, fields) == (409, "coupon_already_used", ["code", "used_by", "used_at", "used_store"])
    reasons = {item["field"]: item["reason"] for item in second.json_body["error"]["fields"]}
    assert (reasons["used_by"], reasons["used_at"], reasons["used_store"]) == (
        "zhangsan",
        first.json_body["used_at"],
        "S1",
    )
    assert second.json_body["error"]["message"] == "该优惠券已核销，不能重复使用"
    item = stored(coupon)
    assert (item.status, item.used_by, item.used_store, item.due) == ("used", "zhangsan", "S1", None)


def test_the_same_idempotency_key_replays_and_any_other_attempt_is_409(api: Api) -> None:
    _, coupon = held(api, "retry", template(api, "t1"))
    body = {"code": coupon["code"], "store_id": "S1"}

    first = redeem(api, body, **{"Idempotency-Key": "scan-1"})
    again = redeem(api, body, **{"Idempotency-Key": "scan-1"})
    other_key = redeem(api, body, **{"Idempotency-Key": "scan-2"})
    no_key = redeem(api, body)
    other_staff_same_key = redeem(api, body, userid="lisi", **{"Idempotency-Key": "scan-1"})

    assert first.status_code == again.status_code == 200
    assert again.json_body["replayed"] is True and again.json_body["used_at"] == first.json_body["used_at"]
    for refused in (other_key, no_key, other_staff_same_key):
        assert error(refused)[:2] == (409, "coupon_already_used")


def test_another_store_is_409_naming_store_id_and_its_own_store_redeems(api: Api) -> None:
    _, coupon = held(api, "stores", template(api, "t1", scope={"stores": ["S1", "S2"]}))

    assert error(redeem(api, {"code": coupon["code"], "store_id": "S9"})) == (409, "coupon_not_for_store", ["store_id"])
    assert stored(coupon).status == "unused"
    assert redeem(api, {"code": coupon["code"], "store_id": "S2"}).status_code == 200


def test_a_mini_program_only_coupon_is_refused_at_the_counter(api: Api) -> None:
    _, coupon = held(api, "online", template(api, "t1", channel="mini_program"))

    assert error(redeem(api, {"code": coupon["code"], "store_id": "S1"})) == (409, "coupon_not_in_store", ["channel"])
    assert stored(coupon).status == "unused"


def test_the_last_second_of_the_window_redeems_and_shanghai_midnight_does_not(api: Api) -> None:
    until = last_second_today()
    fixed = {
        "kind": "fixed",
        "valid_from": (utc_now() - timedelta(hours=1)).isoformat(),
        "valid_until": until.isoformat(),
    }
    template_id = template(api, "t1", validity=fixed)
    _, late = held(api, "late", template_id)
    _, gone = held(api, "gone", template_id)

    clock.pin(until + timedelta(milliseconds=990))
    assert redeem(api, {"code": late["code"], "store_id": "S1"}).status_code == 200
    clock.pin(until + timedelta(seconds=1))  # 00:00:00 the next day
    assert error(redeem(api, {"code": gone["code"], "store_id": "S1"})) == (409, "coupon_expired", ["code"])
    assert stored(gone).status == "unused"


def test_the_store_refuses_a_use_past_the_end_even_when_no_check_ran_before(api: Api) -> None:
    """The conditional update is the guard, not the read before it."""
    until = last_second_today()
    fixed = {
        "kind": "fixed",
        "valid_from": (utc_now() - timedelta(hours=1)).isoformat(),
        "valid_until": until.isoformat(),
    }
    _, claimed = held(api, "guard", template(api, "t1", validity=fixed))
    coupon = coupons_repo.get(claimed["member_id"], claimed["coupon_id"])
    assert coupon is not None

    tx = UnitOfWork(get_settings().region)
    tag = coupons_repo.stage_use(tx, coupon, "zhangsan", "S1", None, until + timedelta(seconds=1))
    with pytest.raises(TransactionFailed) as refused:
        tx.commit()
    assert refused.value.failed(tag)
    last = UnitOfWork(get_settings().region)
    coupons_repo.stage_use(last, coupon, "zhangsan", "S1", None, until + timedelta(microseconds=999_999))
    last.commit()
    assert stored(claimed).status == "used"


def test_a_stale_or_tampered_qr_payload_is_400_naming_payload_and_changes_nothing(api: Api) -> None:
    token, coupon = held(api, "qr", template(api, "t1"))
    payload = qr(api, token, coupon["code"])
    prefix, code, expires, signature = payload.split(".")
    other = "0123456789ABC" + coupon_codes.check_character("0123456789ABC")
    tampered = {
        "later expiry": f"{prefix}.{code}.{int(expires) + 3600}.{signature}",
        "another code": f"{prefix}.{other}.{expires}.{signature}",
        "bad signature": f"{prefix}.{code}.{expires}.{'A' * len(signature)}",
    }

    for name, forged in tampered.items():
        assert error(redeem(api, {"payload": forged, "store_id": "S1"})) == (
            400,
            "coupon_payload_invalid",
            ["payload"],
        ), name
    clock.pin(utc_now() + timedelta(seconds=get_settings().coupon_qr_valid_seconds + 1))
    assert error(redeem(api, {"payload": payload, "store_id": "S1"})) == (400, "coupon_payload_expired", ["payload"])
    assert stored(coupon).status == "unused"
    fresh = qr(api, token, coupon["code"])
    assert redeem(api, {"payload": fresh, "store_id": "S1"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"store_id": "S1"}, "body"),
        ({"code": "X", "payload": "c1.X.1.Y", "store_id": "S1"}, "body"),
        ({"code": "ABC"}, "store_id"),
        ({"code": "ABC", "store_id": "S 1"}, "store_id"),
        ({"code": "ABC", "store_id": "S1", "member_id": "m_1"}, "member_id"),
        ({"payload": "not-a-payload", "store_id": "S1"}, "payload"),
        ({"code": "A" * 33, "store_id": "S1"}, "code"),
    ],
    ids=["neither", "both", "no-store", "bad-store", "names-a-member", "bad-payload", "long-code"],
)
def test_malformed_redemptions_are_400_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    response = redeem(api, body)

    assert response.status_code == 400, response.body
    assert field in [item["field"] for item in response.json_body["error"]["fields"]]


def test_a_mistyped_code_is_400_and_an_unknown_one_404(api: Api) -> None:
    _, coupon = held(api, "typo", template(api, "t1"))
    wrong = coupon["code"][:-1] + ("0" if coupon["code"][-1] != "0" else "1")
    unknown = "0123456789ABC" + coupon_codes.check_character("0123456789ABC")

    assert error(redeem(api, {"code": wrong, "store_id": "S1"})) == (400, "coupon_code_invalid", ["code"])
    assert error(redeem(api, {"code": unknown, "store_id": "S1"}))[:2] == (404, "coupon_not_found")


def test_only_a_staff_token_redeems_and_members_see_only_their_own_coupons(api: Api) -> None:
    owner, coupon = held(api, "owner", template(api, "t1"))
    thief, _ = api.login("thief")
    body = dumps({"code": coupon["code"], "store_id": "S1"})

    assert api.http.post(REDEEM, body=body, headers=member_headers(thief)).status_code == 401
    assert api.http.post(REDEEM, body=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert redeem(api, {"code": coupon["code"], "store_id": "S1"}).status_code == 200
    assert api.http.get(f"/v1/me/coupons/{coupon['code']}", headers=member_headers(thief)).status_code == 404
    mine = api.http.get(f"/v1/me/coupons/{coupon['code']}", headers=member_headers(owner)).json_body
    assert (mine["status"], mine["used_store"]) == ("used", "S1")
    assert api.http.get("/v1/me/coupons?status=used", headers=member_headers(thief)).json_body["items"] == []


def test_a_paused_template_stops_claims_not_the_use_of_coupons_held(api: Api) -> None:
    template_id = template(api, "t1")
    _, coupon = held(api, "paused", template_id)
    assert api.http.post(f"/admin/coupon-templates/{template_id}/pause", headers=operator_headers()).status_code == 200

    assert redeem(api, {"code": coupon["code"], "store_id": "S1"}).status_code == 200


def test_a_pos_redeems_once_per_order_and_another_order_is_409(api: Api) -> None:
    _, coupon = held(api, "posuse", template(api, "t1"))
    body = {"code": coupon["code"], "store_id": "S1", "order_id": "O-1"}

    first = pos_call(api, POS_REDEEM, body)
    again = pos_call(api, POS_REDEEM, body)
    other = pos_call(api, POS_REDEEM, {**body, "order_id": "O-2"})
    other_client = pos_call(api, POS_REDEEM, body, client=("pos-2", "pos-secret-2"))

    assert first.status_code == 200, first.body
    assert (first.json_body["member_id"], first.json_body["order_id"]) == (coupon["member_id"], "O-1")
    assert first.json_body["used_by"] == "pos:pos-1" and again.json_body["replayed"] is True
    assert error(other)[:2] == error(other_client)[:2] == (409, "coupon_already_used")
    headers = {**pos_headers("POST", POS_REDEEM, dumps(body)), "Idempotency-Key": "k"}
    assert error(api.http.post(POS_REDEEM, body=dumps(body), headers=headers))[2] == ["Idempotency-Key"]


def test_a_pos_returns_its_coupon_once_and_never_another_clients(api: Api) -> None:
    _, coupon = held(api, "posret", template(api, "t1"))
    assert pos_call(api, POS_REDEEM, {"code": coupon["code"], "store_id": "S1", "order_id": "O-1"}).status_code == 200
    path = f"/v1/pos/coupons/{coupon['code']}/return"

    assert error(pos_call(api, path, {"order_id": "O-1"}, client=("pos-2", "pos-secret-2")))[:2] == (403, "forbidden")
    assert error(pos_call(api, path, {"order_id": "O-9"})) == (409, "coupon_not_used_for_order", ["order_id"])
    first = pos_call(api, path, {"order_id": "O-1"})
    again = pos_call(api, path, {"order_id": "O-1"})

    assert first.status_code == again.status_code == 200, first.body
    assert (first.json_body["returned"], first.json_body["status"], first.json_body["reason"]) == (True, "unused", None)
    item = stored(coupon)
    assert (item.status, item.due) == ("returned", coupons_repo.due_key(_domain(coupon), "Asia/Shanghai"))
    assert again.json_body["returned"] is True
    assert redeem(api, {"code": coupon["code"], "store_id": "S2"}).status_code == 200  # usable again


def test_the_staff_customer_view_lists_coupons_usable_in_store_with_their_rules(api: Api) -> None:
    from chalicelib.services import identity
    from chalicelib.store import channels_repo

    token, member_id = api.login("viewed")
    identity.link_alias(member_id, "work:wm_viewed", utc_now())
    channels_repo.set_work_contact(member_id, "wm_viewed", {"zhangsan"})
    anywhere = template(api, "t1", name="通用券")
    online = template(api, "t2", name="线上券", channel="mini_program")
    s1 = template(api, "t3", name="S1专享", scope={"stores": ["S1"]})
    spent = template(api, "t4", name="已用券")
    for key, template_id in (("k1", anywhere), ("k2", online), ("k3", s1), ("k4", spent)):
        claimed = api.http.post(
            f"/v1/coupons/{template_id}/claims", body=b"", headers=member_headers(token, **{"Idempotency-Key": key})
        )
        assert claimed.status_code == 201
        if template_id == spent:
            assert redeem(api, {"code": claimed.json_body["code"], "store_id": "S1"}).status_code == 200

    unknown_store = api.http.get("/v1/staff/customers/wm_viewed", headers=staff_headers())
    at_s1 = api.http.get("/v1/staff/customers/wm_viewed?store_id=S1", headers=staff_headers())
    not_followed = api.http.get("/v1/staff/customers/wm_viewed?store_id=S1", headers=staff_headers("lisi"))

    assert [c["name"] for c in unknown_store.json_body["coupons"]] == ["通用券"]
    assert sorted(c["name"] for c in at_s1.json_body["coupons"]) == ["S1专享", "通用券"]
    listed = at_s1.json_body["coupons"][0]
    assert listed["headline"] == "满200减30" and any("有效期" in rule for rule in listed["rules"])
    assert "code" not in listed
    assert not_followed.status_code == 404


def test_a_redemption_tells_the_member_through_a_coupon_used_event(api: Api) -> None:
    _, coupon = held(api, "told", template(api, "t1"))
    redeem(api, {"code": coupon["code"], "store_id": "S1"})

    events = [item for item in OutboxModel.scan() if item.kind == "coupon.used"]

    assert len(events) == 1 and events[0].member_id == coupon["member_id"]
    assert events[0].data["where"] == "门店 S1" and events[0].data["title"] == "满200减30"


# --- checkout's side: staged uses and returns ------------------------------------------------


def _domain(claimed: dict[str, Any]) -> Any:
    found = coupons_repo.get(claimed["member_id"], claimed["coupon_id"])
    assert found is not None
    return found


def test_stage_use_commits_with_the_callers_transaction_and_a_lost_race_is_known_by_its_tag(api: Api) -> None:
    _, claimed = held(api, "checkout", template(api, "t1", channel="both"))
    snapshot, now = _domain(claimed), utc_now()

    tx = UnitOfWork(get_settings().region)
    tag = coupon_redemption.stage_use(tx, snapshot, "O-1", None, Channel.MINI_PROGRAM, now, used_by="pos:mall")
    tx.commit()
    late = UnitOfWork(get_settings().region)
    late_tag = coupon_redemption.stage_use(late, snapshot, "O-2", "S1", Channel.IN_STORE, now)  # a stale read
    with pytest.raises(TransactionFailed) as lost:
        late.commit()

    assert tag == late_tag == coupons_repo.use_tag(snapshot.coupon_id) and lost.value.failed(late_tag)
    answer = coupon_redemption.refusal(snapshot, Channel.IN_STORE, "S1", now)
    assert isinstance(answer, CouponAlreadyUsed) and answer.used_by == "pos:mall" and answer.used_store == ""
    with pytest.raises(CouponAlreadyUsed):  # a fresh read refuses before staging anything
        coupon_redemption.stage_use(UnitOfWork("us-east-1"), _domain(claimed), "O-3", None, Channel.BOTH, now)
    assert _domain(claimed).order_id == "O-1"


def test_return_policy_never_while_valid_and_always(api: Api) -> None:
    until = last_second_today()
    fixed = {
        "kind": "fixed",
        "valid_from": (utc_now() - timedelta(hours=1)).isoformat(),
        "valid_until": until.isoformat(),
    }
    template_id = template(api, "t1", validity=fixed)
    kept, late, always = (held(api, name, template_id)[1] for name in ("kept", "late", "always"))
    now = utc_now()
    for number, claimed in enumerate((kept, late, always)):
        coupon_redemption.redeem_at_pos(claimed["code"], "S1", f"O-{number}", "pos-1", now)

    never = coupon_redemption.return_for_order(kept["member_id"], kept["coupon_id"], "O-0", now, ReturnPolicy.NEVER)
    after_end = until + timedelta(seconds=1)
    expired = coupon_redemption.return_for_order(
        late["member_id"], late["coupon_id"], "O-1", after_end, ReturnPolicy.WHILE_VALID
    )
    back = coupon_redemption.return_for_order(
        always["member_id"], always["coupon_id"], "O-2", after_end, ReturnPolicy.ALWAYS
    )

    assert (never.returned, never.reason, stored(kept).status) == (False, "policy_never", "used")
    assert (expired.returned, expired.reason, stored(late).status) == (False, "expired", "used")
    assert back.returned and stored(always).status == "returned" and stored(always).due is None
    assert back.coupon.status_at(after_end) == CouponStatus.EXPIRED  # returned past its end: unusable
    with pytest.raises(CouponRefused) as refused:
        coupon_redemption.redeem_in_store(always["code"], "S1", "zhangsan", None, after_end)
    assert refused.value.code == "coupon_expired"


def test_the_default_return_policy_comes_from_settings(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _, claimed = held(api, "setting", template(api, "t1"))
    coupon_redemption.redeem_at_pos(claimed["code"], "S1", "O-1", "pos-1", utc_now())
    monkeypatch.setenv("COUPON_RETURN_POLICY", "never")
    get_settings.cache_clear()
    try:
        result = coupon_redemption.return_for_order(claimed["member_id"], claimed["coupon_id"], "O-1", utc_now())
        assert (result.returned, result.reason) == (False, "policy_never")
        monkeypatch.setenv("COUPON_RETURN_POLICY", "sometimes")
        get_settings.cache_clear()
        with pytest.raises(RuntimeError, match="COUPON_RETURN_POLICY"):
            coupon_redemption.return_for_order(claimed["member_id"], claimed["coupon_id"], "O-1", utc_now())
    finally:
        get_settings.cache_clear()


def test_resolve_finds_the_coupon_whatever_its_status_and_the_service_decides(api: Api) -> None:
    _, claimed = held(api, "resolved", template(api, "t1"))
    coupon_redemption.redeem_in_store(claimed["code"], "S1", "zhangsan", None, utc_now())

    assert coupons.resolve(claimed["code"], utc_now()).status == CouponStatus.USED
    with pytest.raises(CouponAlreadyUsed):
        coupon_redemption.redeem_in_store(claimed["code"], "S1", "zhangsan", None, utc_now())
