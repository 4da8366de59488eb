"""The operators' member service (会员查询): a member found by any one identity, through keyed
reads only, and their page (profile, identities, tier, points, lots, ledger, merges, consents,
pending requests) with phones masked and WeChat ids shortened."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from pynamodb.models import Model

from chalicelib.clock import utc_now
from chalicelib.services import identity
from tests.support.api import Api, dumps, member_headers, operator_headers

PHONE = "13800001234"


def _search(api: Api, operator: str = "alice", **query: str) -> Any:
    return api.http.get(f"/admin/members/search?{urlencode(query)}", headers=operator_headers(operator))


def _detail(api: Api, member_id: str, operator: str = "alice") -> Any:
    return api.http.get(f"/admin/members/{member_id}", headers=operator_headers(operator))


def _member_with_everything(api: Api, name: str) -> tuple[str, str]:
    """A mini-program member (openid o_<name>, unionid u_<name>) with a phone, an official
    account and a WeChat Work identity, an order and a consent."""
    token, member_id = api.login(name)
    bound = api.http.post("/v1/me/phone", body=dumps({"code": f"phone:{PHONE}"}), headers=member_headers(token))
    assert bound.status_code == 200, bound.body
    identity.link_alias(member_id, f"mp:mp_{name}", utc_now())
    identity.link_alias(member_id, f"work:wm_{name}", utc_now())
    assert api.order(f"{name}-1", {"member_id": member_id}, 12_300).status_code == 200
    consent = api.http.post(
        "/v1/me/subscriptions",
        body=dumps({"results": {"tmpl_points_change": "accept"}}),
        headers=member_headers(token, **{"Idempotency-Key": "c1"}),
    )
    assert consent.status_code in (200, 201), consent.body
    return token, member_id


def test_each_identity_finds_the_member_as_a_masked_card(api: Api) -> None:
    _, member_id = _member_with_everything(api, "sam")
    expected = [
        {
            "member_id": member_id,
            "nickname": None,
            "phone": "138****1234",
            "tier": {"code": "normal", "name": "普通会员"},
            "balance": 123,
            "merged_into": None,
        }
    ]

    for query in [
        {"member_id": member_id},
        {"phone": PHONE},
        {"phone": f"86{PHONE}"},
        {"openid": "o_sam"},
        {"openid": "mp_sam"},
        {"unionid": "u_sam"},
        {"external_userid": "wm_sam"},
    ]:
        response = _search(api, **query)
        assert response.status_code == 200, (query, response.body)
        assert response.json_body["items"] == expected, query
    assert _search(api, "erin", phone=PHONE).json_body["items"] == expected  # the auditor reads too


def test_an_identity_nobody_has_is_an_empty_list(api: Api) -> None:
    api.login("tom")
    for query in [{"member_id": "m_nobody"}, {"phone": "13900009999"}, {"openid": "o_nobody"}, {"unionid": "u_x"}]:
        response = _search(api, **query)
        assert (response.status_code, response.json_body) == (200, {"items": []}), query


def test_a_search_names_exactly_one_identity_or_is_400_naming_the_field(api: Api) -> None:
    _, member_id = api.login("una")
    cases = [
        ({}, "member_id|phone|openid|unionid|external_userid"),
        ({"member_id": member_id, "phone": PHONE}, "phone"),
        ({"openid": "o_una", "unionid": "u_una"}, "unionid"),
        ({"phone": "１３８００００１２３４"}, "phone"),  # full-width digits are not a phone number
        ({"phone": "138-0000"}, "phone"),
        ({"openid": "o_una' OR 1=1"}, "openid"),
        ({"member_id": "x" * 65}, "member_id"),
        ({"nickname": "una"}, "nickname"),
    ]
    for query, field in cases:
        response = _search(api, **query)
        assert response.status_code == 400, (query, response.body)
        assert [f["field"] for f in response.json_body["error"]["fields"]] == [field], query


def test_members_are_read_by_operators_only(api: Api) -> None:
    token, member_id = api.login("vic")
    assert api.http.get(f"/admin/members/{member_id}", headers=member_headers(token)).status_code == 403
    assert (
        api.http.get(f"/admin/members/search?member_id={member_id}", headers=member_headers(token)).status_code == 403
    )
    anonymous = {"Content-Type": "application/json"}
    assert api.http.get(f"/admin/members/{member_id}", headers=anonymous).status_code == 401


def test_lookups_never_scan_a_table(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _, member_id = _member_with_everything(api, "wes")

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a member lookup scanned a table")

    monkeypatch.setattr(Model, "scan", classmethod(refuse))
    for query in [{"member_id": member_id}, {"phone": PHONE}, {"openid": "o_wes"}, {"external_userid": "wm_wes"}]:
        assert _search(api, **query).status_code == 200
    assert _detail(api, member_id).status_code == 200


def test_a_members_page_shows_everything_support_needs_and_no_raw_identity(api: Api) -> None:
    token, member_id = _member_with_everything(api, "xia")
    assert api.adjust(member_id, 5000, "big").json_body["status"] == "pending"
    assert api.redeem(token, 2, "r1").status_code == 201

    response = _detail(api, member_id)

    assert response.status_code == 200, response.body
    page = response.json_body
    assert (page["member_id"], page["phone"], page["merged_into"]) == (member_id, "138****1234", None)
    assert sorted((i["kind"], i["value"]) for i in page["identities"]) == [
        ("external_userid", "wm_…"),
        ("mini_openid", "o_…"),
        ("mp_openid", "mp_…"),
        ("phone", "138****1234"),
        ("unionid", "u_…"),
    ]
    assert page["tier"] == {
        "code": "normal",
        "name": "普通会员",
        "growth": 123,
        "next_code": "silver",
        "next_name": "银卡",
        "growth_to_next": 3000 - 123,
    }
    assert page["points"] == {"balance": 121, "debt": 0}
    assert sum(lot["points"] for lot in page["lots"]) == 121 and len(page["lots"]) == 1
    assert [e["kind"] for e in page["ledger"]] == ["redeem", "earn"]  # newest first
    assert page["consents"] == [{"template_id": "tmpl_points_change", "remaining": 1}]
    assert [(a["kind"], a["points"], a["status"]) for a in page["pending_approvals"]] == [("adjust", 5000, "pending")]
    assert page["merges"] == []
    for secret in (PHONE, "o_xia", "u_xia", "mp_xia", "wm_xia", _phone_hash(PHONE)):
        assert secret not in response.body.decode(), secret


def _phone_hash(phone: str) -> str:
    from chalicelib.security.phone import phone_hash

    return phone_hash(phone)


def test_the_ledger_on_the_page_is_the_latest_twenty(api: Api) -> None:
    _, member_id = api.login("yan")
    for n in range(23):
        assert api.adjust(member_id, 1, f"k{n}").status_code == 201
    ledger = _detail(api, member_id).json_body["ledger"]
    assert len(ledger) == 20 and [e["balance_after"] for e in ledger] == list(range(23, 3, -1))


def test_both_sides_of_a_merge_show_it_and_a_pending_merge_shows_on_both_members(api: Api) -> None:
    _, survivor = api.login("zed")
    _, merged = api.login("nounion:zed2")  # no unionid: an operator may merge it
    _, third = api.login("nounion:zed3")
    request = _request_merge(api, survivor, merged)
    assert (
        api.http.post(f"/admin/approvals/{request}/approve", body=b"{}", headers=operator_headers("bob")).status_code
        == 200
    )
    pending = _request_merge(api, survivor, third)

    on_survivor, on_merged = _detail(api, survivor).json_body, _detail(api, merged).json_body

    assert [(m["role"], m["merged_id"], m["survivor_id"], m["status"]) for m in on_survivor["merges"]] == [
        ("survivor", merged, survivor, "done")
    ]
    assert [(m["role"], m["approved_by"], m["operator"]) for m in on_merged["merges"]] == [("merged", "bob", "alice")]
    assert on_merged["merged_into"] == survivor
    assert _search(api, member_id=merged).json_body["items"][0]["merged_into"] == survivor
    for page in (on_survivor, _detail(api, third).json_body):
        assert [(a["approval_id"], a["kind"]) for a in page["pending_approvals"]] == [(pending, "merge")]
        assert page["pending_approvals"][0]["merge"]["survivor_id"] == survivor


def _request_merge(api: Api, survivor: str, merged: str) -> str:
    body = dumps({"survivor_id": survivor, "merged_id": merged, "reason": "same customer"})
    response = api.http.post("/admin/members/merge", body=body, headers=operator_headers("alice"))
    assert response.status_code == 202, response.body
    return str(response.json_body["approval_id"])


def test_an_unknown_member_is_404_and_a_malformed_id_400(api: Api) -> None:
    missing = _detail(api, "m_nobody")
    assert missing.status_code == 404 and missing.json_body["error"]["fields"][0]["field"] == "member_id"
    assert _detail(api, "m%20x").status_code == 400


def test_a_wechat_id_is_shortened_to_its_first_six_characters_at_most_half() -> None:
    from chalicelib.services.member_service import shorten

    assert shorten("oAbCdEfGhIjKlMnOpQrStUvWxYz1") == "oAbCdE…"
    assert shorten("o_bob") == "o_…" and shorten("ab") == "a…" and shorten("x") == "…"
