"""Mini-program API: login, card, profile, phone, ledger, redemption — over the Chalice test client,
with the real wechatpy client talking to the fake WeChat API."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt

from chalicelib.clock import utc_now
from tests.support.api import Api, dumps, member_headers
from tests.support.env import TEST_ENV


def test_login_creates_member_once_and_returning_login_finds_it(api: Api) -> None:
    token, member_id = api.login("alice")
    again_token, again_id = api.login("alice")
    assert again_id == member_id
    claims = jwt.decode(
        token, TEST_ENV["JWT_SECRET"], algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims["sub"] == member_id and "session_key" not in json.dumps(claims)
    assert api.login("bob")[1] != member_id


def test_login_with_bad_code_is_400_and_creates_nothing(api: Api) -> None:
    response = api.http.post(
        "/v1/auth/login", body=dumps({"code": "forged"}), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "invalid_wechat_code"
    assert response.json_body["error"]["message"] == "微信授权已失效，请重新授权"


def test_login_without_code_names_the_field(api: Api) -> None:
    response = api.http.post("/v1/auth/login", body=b"{}", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert [f["field"] for f in response.json_body["error"]["fields"]] == ["code"]


def test_new_member_card_shows_default_tier_and_zero_points(api: Api) -> None:
    token, member_id = api.login("carol")
    body = api.me(token).json_body
    assert body["member_id"] == member_id
    assert body["tier"] == {"code": "normal", "name": "普通会员"}
    assert body["points"] == {"balance": 0, "next_expiry": None, "pending": 0, "next_release": None}


def test_card_shows_next_expiry_after_an_order(api: Api) -> None:
    token, member_id = api.login("dave")
    assert api.order("o-1", {"member_id": member_id}, 12_345).status_code == 200
    points = api.me(token).json_body["points"]
    assert points["balance"] == 123
    assert points["next_expiry"]["points"] == 123


def _token(claims: dict, key: str = TEST_ENV["JWT_SECRET"], alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def test_missing_tampered_expired_and_unsigned_tokens_are_401(api: Api) -> None:
    token, member_id = api.login("erin")
    now = utc_now()
    good = {"sub": member_id, "role": "member", "iss": "wxmember", "iat": now}
    header, payload, signature = token.split(".")
    forged_payload = (
        base64.urlsafe_b64encode(
            json.dumps({**jwt.decode(token, options={"verify_signature": False}), "sub": "m_other"}).encode()
        )
        .rstrip(b"=")
        .decode()
    )
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    for bad in [
        None,
        "Bearer not-a-token",
        f"Bearer {header}.{forged_payload}.{signature}",
        f"Bearer {_token({**good, 'exp': now - timedelta(seconds=1)})}",
        f"Bearer {_token({**good, 'exp': now + timedelta(hours=1)}, key='wrong-key-wrong-key-wrong-key-00')}",
        f"Bearer {unsigned}.{payload}.",
        f"Bearer {_token({**good, 'role': 'staff', 'exp': now + timedelta(hours=1)})}",
    ]:
        headers = {"Authorization": bad} if bad else {}
        response = api.http.get("/v1/me", headers=headers)
        assert response.status_code == 401, bad
        assert response.json_body["error"]["code"] == "unauthorized"


def test_birthday_can_be_set_once(api: Api) -> None:
    token, _ = api.login("fay")
    first = api.http.patch(
        "/v1/me", body=dumps({"birthday": "1990-05-01", "nickname": "Fay"}), headers=member_headers(token)
    )
    assert first.status_code == 200 and first.json_body["birthday"] == "1990-05-01"
    assert (
        api.http.patch("/v1/me", body=dumps({"birthday": "1990-05-01"}), headers=member_headers(token)).status_code
        == 200
    )
    second = api.http.patch("/v1/me", body=dumps({"birthday": "1991-01-01"}), headers=member_headers(token))
    assert second.status_code == 409
    assert second.json_body["error"]["fields"][0]["field"] == "birthday"
    assert api.me(token).json_body["birthday"] == "1990-05-01"


def test_bad_profile_fields_are_named(api: Api) -> None:
    token, _ = api.login("gus")
    for body, field in [
        ({"birthday": "1990-13-01"}, "birthday"),
        ({"gender": "robot"}, "gender"),
        ({"nickname": ""}, "nickname"),
        ({"age": 3}, "age"),
        ({}, "body"),
    ]:
        response = api.http.patch("/v1/me", body=dumps(body), headers=member_headers(token))
        assert response.status_code == 400, body
        assert field in [f["field"] for f in response.json_body["error"]["fields"]], response.json_body


def test_phone_is_bound_masked_and_unique_across_members(api: Api) -> None:
    token, member_id = api.login("hana")
    response = api.http.post("/v1/me/phone", body=dumps({"code": "phone:13812341234"}), headers=member_headers(token))
    assert response.status_code == 200
    assert response.json_body == {"phone": "138****1234"}
    assert api.me(token).json_body["phone"] == "138****1234"
    other, _ = api.login("ivan")
    taken = api.http.post("/v1/me/phone", body=dumps({"code": "phone:13812341234"}), headers=member_headers(other))
    assert taken.status_code == 409
    assert api.order("o-phone", {"phone": "13812341234"}, 1000).json_body["member_id"] == member_id


def test_phone_number_is_stored_encrypted(api: Api) -> None:
    from chalicelib.store.models import MemberModel

    token, member_id = api.login("jade")
    api.http.post("/v1/me/phone", body=dumps({"code": "phone:13900001111"}), headers=member_headers(token))
    stored = MemberModel.get(member_id).attribute_values
    assert "13900001111" not in json.dumps(stored, default=str)


def test_ledger_pages_newest_first_with_cursor(api: Api) -> None:
    token, member_id = api.login("kim")
    for n in range(5):
        api.order(f"o-led-{n}", {"member_id": member_id}, 100 * (n + 1))
    seen, cursor = [], None
    while True:
        path = "/v1/me/points/ledger?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.http.get(path, headers=member_headers(token)).json_body
        seen += [item["points"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [5, 4, 3, 2, 1]


def test_ledger_rejects_bad_cursor_and_limit(api: Api) -> None:
    token, _ = api.login("lee")
    for query, field in [("cursor=%%%", "cursor"), ("limit=0", "limit"), ("limit=abc", "limit")]:
        response = api.http.get(f"/v1/me/points/ledger?{query}", headers=member_headers(token))
        assert response.status_code == 400, query
        assert response.json_body["error"]["fields"][0]["field"] == field


def test_cursor_of_another_member_is_rejected(api: Api) -> None:
    token_a, a = api.login("mia")
    token_b, _ = api.login("ned")
    for n in range(3):
        api.order(f"o-cur-{n}", {"member_id": a}, 100)
    cursor = api.http.get("/v1/me/points/ledger?limit=1", headers=member_headers(token_a)).json_body["next_cursor"]
    response = api.http.get(f"/v1/me/points/ledger?cursor={cursor}", headers=member_headers(token_b))
    assert response.status_code == 400


def test_redemption_spends_points_and_replays_return_the_same_result(api: Api) -> None:
    token, member_id = api.login("olga")
    api.order("o-red", {"member_id": member_id}, 50_000)
    results = [api.redeem(token, 120, "r-1") for _ in range(3)]
    assert {r.status_code for r in results} == {201}
    assert len({json.dumps(r.json_body) for r in results}) == 1
    assert results[0].json_body["balance"] == 380
    assert api.me(token).json_body["points"]["balance"] == 380


def test_redemption_key_reused_with_other_body_is_409(api: Api) -> None:
    token, member_id = api.login("pete")
    api.order("o-reuse", {"member_id": member_id}, 50_000)
    assert api.redeem(token, 100, "k").status_code == 201
    reused = api.redeem(token, 200, "k")
    assert reused.status_code == 409 and reused.json_body["error"]["code"] == "idempotency_key_reused"
    assert api.me(token).json_body["points"]["balance"] == 400


def test_redemption_beyond_balance_is_409_and_writes_nothing(api: Api) -> None:
    token, member_id = api.login("quin")
    api.order("o-small", {"member_id": member_id}, 1_000)
    response = api.redeem(token, 11, "too-much")
    assert response.status_code == 409
    assert response.json_body["error"]["message"] == "积分不足"
    assert api.me(token).json_body["points"]["balance"] == 10


def test_redemption_needs_an_idempotency_key_and_integer_points(api: Api) -> None:
    token, _ = api.login("rosa")
    no_key = api.http.post(
        "/v1/me/points/redemptions", body=dumps({"points": 1, "reason": "x"}), headers=member_headers(token)
    )
    assert no_key.status_code == 400
    assert no_key.json_body["error"]["fields"][0]["field"] == "Idempotency-Key"
    for points in ["10", 1.5, 10.0, -1, 0, None]:
        response = api.redeem(token, points, f"k-{points}")  # type: ignore[arg-type]
        assert response.status_code == 400, points
        assert response.json_body["error"]["fields"][0]["field"] == "points"


def test_a_member_only_ever_reaches_their_own_points(api: Api) -> None:
    token_a, a = api.login("sam")
    token_b, b = api.login("tess")
    api.order("o-a", {"member_id": a}, 100_000)
    assert api.me(token_b).json_body["points"]["balance"] == 0
    assert api.redeem(token_b, 10, "steal").status_code == 409
    ledger_b = api.http.get("/v1/me/points/ledger", headers=member_headers(token_b)).json_body
    assert ledger_b["items"] == []
    assert api.me(token_a).json_body["points"]["balance"] == 1000


def test_malformed_json_and_oversized_bodies_are_4xx(api: Api) -> None:
    token, _ = api.login("uma")
    bad = api.http.post(
        "/v1/me/points/redemptions", body=b"{not json", headers=member_headers(token, **{"Idempotency-Key": "j"})
    )
    assert bad.status_code == 400
    huge = api.http.post(
        "/v1/me/points/redemptions",
        body=b'{"reason":"' + b"x" * 20000 + b'"}',
        headers=member_headers(token, **{"Idempotency-Key": "h"}),
    )
    assert huge.status_code == 413
