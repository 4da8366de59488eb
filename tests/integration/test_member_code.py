"""The dynamic member code (动态会员码): the card's QR/barcode payload, and the POS naming the
member by it. Attacks first: an expired screenshot, an edited payload (another member's code,
a later expiry, a forged signature), the public invite code, a coupon's QR, two identities."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.api.docs_rules import MEMBER_CODE_PATTERN
from chalicelib.services import coupons, identity, member_code, member_codes
from chalicelib.store import members_repo
from tests.support.api import Api, dumps, member_headers, paid_at, pos_headers
from tests.support.programme import publish_with

NOW = clock.utc_now


def card(api: Api, token: str) -> dict[str, Any]:
    response = api.http.get("/v1/me/code", headers=member_headers(token))
    assert response.status_code == 200, response.body
    return dict(response.json_body)


def error(response: Any) -> tuple[int, str, list[str]]:
    found = response.json_body["error"]
    return response.status_code, found["code"], [item["field"] for item in found["fields"]]


def order(api: Api, order_id: str, payload: str, amount_fen: int = 10_000, paid: str | None = None) -> Any:
    """An order naming the member by the scanned payload; `paid` fixed for a retry after re-pinning."""
    body = dumps(
        {"order_id": order_id, "member": {"code": payload}, "amount_fen": amount_fen, "paid_at": paid or paid_at()}
    )
    return api.http.post("/v1/orders", body=body, headers=pos_headers("POST", "/v1/orders", body))


def refused_by_code(api: Api, order_id: str, payload: str) -> tuple[int, str, list[str]]:
    return error(order(api, order_id, payload))


def swap(text: str, index: int) -> str:
    """`text` with one base-32 digit changed."""
    alphabet = member_code.ALPHABET
    return text[:index] + alphabet[(alphabet.index(text[index]) + 1) % 32] + text[index + 1 :]


# --- attacks -------------------------------------------------------------------------------------


def test_a_screenshot_stops_working_when_its_payload_expires(api: Api) -> None:
    token, member_id = api.login("shot")
    issued = NOW().replace(microsecond=0)
    clock.pin(issued)
    shown = card(api, token)

    clock.pin(issued + timedelta(seconds=89))
    assert member_code.member_of(shown["payload"], NOW()) == member_id  # the last second it works
    clock.pin(issued + timedelta(seconds=90))

    assert refused_by_code(api, "SHOT-1", shown["payload"]) == (400, "member_code_expired", ["member.code"])
    assert members_repo.get_member(member_id).balance == 0
    fresh = card(api, token)["payload"]
    assert order(api, "SHOT-1", fresh).json_body["member_id"] == member_id


def test_an_edited_payload_is_400_naming_member_code_never_another_member(api: Api) -> None:
    token, member_id = api.login("edit-a")
    _, other_id = api.login("edit-b")
    other_code = member_codes.code_of(other_id, NOW())
    payload = card(api, token)["payload"]
    prefix, code_end = len(member_code.PREFIX), len(member_code.PREFIX) + member_code.CODE_CHARS
    expiry_end = code_end + member_code.EXPIRY_CHARS

    edits = {
        "another member's code": payload[:prefix] + other_code + payload[code_end:],
        "a later expiry": swap(payload, expiry_end - 1),
        "another signature": swap(payload, len(payload) - 1),
        "a shorter one": payload[:-1],
        "another version": "M2" + payload[2:],
        "a character outside the alphabet": payload[:-1] + "U",
    }
    for n, (what, edited) in enumerate(edits.items()):
        assert refused_by_code(api, f"EDIT-{n}", edited) == (400, "member_code_invalid", ["member.code"]), what
    assert members_repo.get_member(member_id).balance == members_repo.get_member(other_id).balance == 0


def test_the_public_invite_code_and_a_coupon_qr_are_not_member_codes(api: Api) -> None:
    _, member_id = api.login("public")
    invite = member_codes.code_of(member_id, NOW())
    coupon_qr = "c1.0123456789ABCX.9999999999.AAAAAAAAAAAAAAAAAAAAAA"

    for n, payload in enumerate((invite, coupon_qr, "", " ")):
        status, code, fields = refused_by_code(api, f"PUB-{n}", payload)
        assert status == 400 and fields and fields[0].startswith("member"), payload
    assert refused_by_code(api, "PUB-9", invite)[1] == "member_code_invalid"


def test_a_payload_signed_with_another_key_is_refused(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.settings import get_settings

    token, _ = api.login("keys")
    derived = card(api, token)["payload"]
    assert member_code.key() not in (coupons.qr_key(), get_settings().jwt_secret.encode())

    monkeypatch.setenv("MEMBER_CODE_SECRET", "another-secret-for-member-codes-0123456789")
    get_settings.cache_clear()
    try:
        assert refused_by_code(api, "KEY-1", derived) == (400, "member_code_invalid", ["member.code"])
        assert order(api, "KEY-2", card(api, token)["payload"]).status_code == 200
    finally:
        monkeypatch.delenv("MEMBER_CODE_SECRET")
        get_settings.cache_clear()


def test_exactly_one_identity_names_the_member(api: Api) -> None:
    token, member_id = api.login("two")
    payload = card(api, token)["payload"]

    status, code, fields = error(api.order("TWO-1", {"code": payload, "member_id": member_id}, 10_000))

    assert (status, code) == (400, "invalid_request") and fields == ["member"]


def test_get_my_code_needs_a_member_token(api: Api) -> None:
    assert api.http.get("/v1/me/code").status_code == 401
    assert api.http.get("/v1/me/code", headers=member_headers("not-a-token")).status_code == 401


# --- what members and the POS do ----------------------------------------------------------------


def test_the_card_shows_a_short_signed_payload_that_refreshes(api: Api) -> None:
    token, member_id = api.login("card")
    asked = NOW()
    first = card(api, token)
    clock.pin(NOW() + timedelta(seconds=first["refresh_in"]))
    second = card(api, token)

    assert len(first["payload"]) == member_code.LENGTH <= 40
    assert re.fullmatch(MEMBER_CODE_PATTERN, first["payload"]) and first["payload"].isalnum()
    assert first["payload"] == first["payload"].upper()  # QR alphanumeric mode, Code 128
    assert first["refresh_in"] == 60
    expires = datetime.fromisoformat(first["expires_at"].replace("Z", "+00:00"))
    assert timedelta(seconds=89) < expires - asked <= timedelta(seconds=90)
    assert second["payload"] != first["payload"]
    assert member_code.member_of(first["payload"], NOW()) == member_code.member_of(second["payload"], NOW())
    assert member_code.member_of(second["payload"], NOW()) == member_id
    assert members_repo.get_member(member_id).member_code in first["payload"]  # the public code, no member id
    assert member_id not in first["payload"]


def test_the_pos_earns_points_by_the_scanned_code_and_a_retry_answers_the_first(api: Api) -> None:
    token, member_id = api.login("scan")
    payload = card(api, token)["payload"]
    paid = paid_at()

    first = order(api, "SCAN-1", payload, 25_000, paid)
    clock.pin(NOW() + timedelta(seconds=120))  # the POS retries after the payload expired
    retried = order(api, "SCAN-1", payload, 25_000, paid)
    lowercase = order(api, "SCAN-2", card(api, token)["payload"].lower() + "\n")

    assert first.status_code == 200, first.body
    assert first.json_body["member_id"] == member_id and first.json_body["points_earned"] == 250
    assert retried.status_code == 200 and retried.json_body == first.json_body
    assert lowercase.status_code == 200 and lowercase.json_body["member_id"] == member_id
    assert members_repo.get_member(member_id).balance == 350


def test_an_action_names_the_member_by_the_code_too(api: Api) -> None:
    publish_with("earning", {"actions": [{"action": "product_review", "points": 15}]})
    token, member_id = api.login("act")
    member = {"code": card(api, token)["payload"]}
    body = dumps({"action_id": "act-1", "member": member, "action": "product_review", "at": NOW().isoformat()})

    response = api.http.post("/v1/actions", body=body, headers=pos_headers("POST", "/v1/actions", body))

    assert response.status_code == 201, response.body
    assert response.json_body["member_id"] == member_id and members_repo.get_member(member_id).balance == 15


def test_a_merged_members_payload_reaches_the_survivor(api: Api) -> None:
    token_a, a = api.login("merge-a")
    _, b = api.login("merge-b")
    payload = card(api, token_a)["payload"]

    identity.merge_members(b, a, trigger="admin", now=NOW(), operator="alice", approved_by="bob")

    assert order(api, "MERGED-1", payload).json_body["member_id"] == b
    assert card(api, token_a)["payload"] != payload  # the old token reaches the survivor's card
