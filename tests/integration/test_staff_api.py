"""Staff sidebar API (企业微信侧边栏): WeChat Work OAuth login and a read-only customer view, over
the Chalice test client with the real wechatpy WeChat Work client against the fake WeChat API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import requests

from chalicelib.clock import utc_now
from chalicelib.services import identity
from chalicelib.store import channels_repo
from chalicelib.wechat import clients
from tests.support.api import Api, dumps, member_headers, paid_at, pos_headers
from tests.support.env import TEST_ENV

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def staff_api(api: Api, fake_wechat: str) -> Iterator[Api]:
    requests.post(f"{fake_wechat}/_reset", timeout=5).raise_for_status()
    clients.reset_clients()
    yield api
    clients.reset_clients()


def staff_login(api: Api, code: str) -> Any:
    return api.http.post("/v1/staff/login", body=dumps({"code": code}), headers=JSON)


def staff_token(api: Api, userid: str = "zhangsan") -> str:
    response = staff_login(api, f"staff:{userid}")
    assert response.status_code == 200, response.body
    return str(response.json_body["token"])


def customer(api: Api, token: str, external_userid: str) -> Any:
    return api.http.get(f"/v1/staff/customers/{external_userid}", headers=member_headers(token))


def member_with_contact(
    api: Api, name: str, external_userid: str, followed_by: tuple[str, ...] = ("zhangsan",)
) -> tuple[str, str]:
    token, member_id = api.login(name)
    identity.link_alias(member_id, f"work:{external_userid}", utc_now())
    channels_repo.set_work_contact(member_id, external_userid, set(followed_by))
    return token, member_id


def test_staff_login_exchanges_the_oauth_code_for_a_staff_token(staff_api: Api) -> None:
    response = staff_login(staff_api, "staff:zhangsan")

    assert response.status_code == 200
    body = response.json_body
    claims = jwt.decode(
        body["token"], TEST_ENV["JWT_SECRET"], algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert (body["userid"], claims["sub"], claims["role"]) == ("zhangsan", "zhangsan", "staff")
    assert body["expires_in"] > 0


def test_invalid_oauth_code_is_400_naming_code(staff_api: Api) -> None:
    response = staff_login(staff_api, "forged")

    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "invalid_wechat_code"
    assert [f["field"] for f in response.json_body["error"]["fields"]] == ["code"]


@pytest.mark.parametrize("body", [b"{}", b'{"code": 5}', b'{"code": ""}', b"not json"])
def test_malformed_login_body_is_400_naming_the_field(staff_api: Api, body: bytes) -> None:
    response = staff_api.http.post("/v1/staff/login", body=body, headers=JSON)

    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] in ("code", "body")


def test_someone_outside_the_corporation_is_403(staff_api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # WeChat Work answers a non-member's code with an openid and no userid.
    monkeypatch.setattr(clients, "get_json", lambda *_a, **_k: {"errcode": 0, "openid": "oX"})

    response = staff_login(staff_api, "staff:outsider")

    assert response.status_code == 403
    assert response.json_body["error"]["fields"][0]["field"] == "code"


def test_wechat_work_down_at_login_is_503(staff_api: Api, fake_wechat: str) -> None:
    requests.post(f"{fake_wechat}/_fail", json={"path": "/cgi-bin/gettoken", "times": 1}, timeout=5)

    assert staff_login(staff_api, "staff:zhangsan").status_code == 503


def test_staff_sees_tier_points_next_expiry_masked_phone_and_no_coupons(staff_api: Api) -> None:
    token, member_id = member_with_contact(staff_api, "erin", "wm_erin")
    staff_api.http.post("/v1/me/phone", body=dumps({"code": "phone:13812345678"}), headers=member_headers(token))
    assert staff_api.order("staff-o-1", {"member_id": member_id}, 20_000).status_code == 200

    response = customer(staff_api, staff_token(staff_api), "wm_erin")

    assert response.status_code == 200, response.body
    body = response.json_body
    assert body["member_id"] == member_id
    assert (body["tier_code"], body["tier_name"]) == ("normal", "普通会员")
    assert body["balance"] == 200 and body["next_expiry"]["points"] == 200
    assert body["next_expiry"]["expires_on"] > "2026-01-01"
    assert body["phone_masked"] == "138****5678" and "13812345678" not in response.body.decode()
    assert body["coupons"] == []


def test_customer_without_points_has_no_next_expiry(staff_api: Api) -> None:
    member_with_contact(staff_api, "fay", "wm_fay")

    body = customer(staff_api, staff_token(staff_api), "wm_fay").json_body

    assert (body["balance"], body["next_expiry"], body["phone_masked"]) == (0, None, None)


def test_unknown_external_contact_is_404_member_not_found(staff_api: Api) -> None:
    response = customer(staff_api, staff_token(staff_api), "wm_nobody")

    assert response.status_code == 404
    assert response.json_body["error"]["code"] == "member_not_found"


def test_malformed_external_userid_is_400_naming_it(staff_api: Api) -> None:
    response = customer(staff_api, staff_token(staff_api), "bad%20id!")

    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == "external_userid"


def test_member_token_is_401_on_staff_routes(staff_api: Api) -> None:
    member_token, _ = member_with_contact(staff_api, "gus", "wm_gus")

    assert customer(staff_api, member_token, "wm_gus").status_code == 401
    assert staff_api.http.get("/v1/staff/customers/wm_gus").status_code == 401


def test_staff_token_is_401_on_member_routes(staff_api: Api) -> None:
    token = staff_token(staff_api)

    assert staff_api.me(token).status_code == 401
    assert staff_api.redeem(token, 10, "staff-redeem-1").status_code == 401


def test_staff_token_cannot_write_points_through_pos_or_admin(staff_api: Api) -> None:
    member_token, member_id = member_with_contact(staff_api, "hal", "wm_hal")
    headers = member_headers(staff_token(staff_api), **{"Idempotency-Key": "staff-adj-1"})
    order = dumps(
        {
            "order_id": "staff-o-2",
            "member": {"member_id": member_id},
            "amount_fen": 10_000,
            "paid_at": paid_at(),
        }
    )

    pos = staff_api.http.post("/v1/orders", body=order, headers=headers)
    admin = staff_api.http.post(
        f"/admin/members/{member_id}/points/adjustments", body=dumps({"points": 500, "reason": "x"}), headers=headers
    )

    # The POS route takes only a signature (401); the admin area knows a staff token and refuses its role.
    assert (pos.status_code, admin.status_code) == (401, 403)
    assert admin.json_body["error"]["code"] == "role_forbidden"
    assert staff_api.me(member_token).json_body["points"]["balance"] == 0
    # The same order, properly signed, still earns: the staff attempt consumed nothing.
    assert (
        staff_api.http.post("/v1/orders", body=order, headers=pos_headers("POST", "/v1/orders", order)).status_code
        == 200
    )


def test_staff_see_only_customers_they_follow(staff_api: Api) -> None:
    """The finding: a staff member read a contact followed only by another staff member."""
    member_with_contact(staff_api, "kai", "wm_kai", followed_by=("lisi",))
    refused = customer(staff_api, staff_token(staff_api, "zhangsan"), "wm_kai")
    assert refused.status_code == 404 and refused.json_body["error"]["code"] == "member_not_found"
    assert customer(staff_api, staff_token(staff_api, "lisi"), "wm_kai").status_code == 200
