"""POS / mall server API: signed order and refund calls, idempotent, with clawback and debt."""

from __future__ import annotations

import json
import time

from chalicelib.services.reconcile import reconcile
from tests.support.api import Api, dumps, pos_headers


def test_paid_order_earns_one_point_per_whole_yuan(api: Api) -> None:
    _, member_id = api.login("amy")
    response = api.order("A-1", {"member_id": member_id}, 19_999, store_id="SH-01")
    assert response.status_code == 200
    assert response.json_body == {"order_id": "A-1", "member_id": member_id, "points_earned": 199, "balance": 199}


def test_order_finds_member_by_openid_and_unionid(api: Api) -> None:
    _, member_id = api.login("ben")
    assert api.order("B-1", {"openid": "o_ben"}, 1000).json_body["member_id"] == member_id
    assert api.order("B-2", {"unionid": "u_ben"}, 1000).json_body["balance"] == 20


def test_retried_order_earns_once(api: Api) -> None:
    _, member_id = api.login("cat")
    responses = [api.order("C-1", {"member_id": member_id}, 5000) for _ in range(3)]
    assert [r.json_body for r in responses] == [responses[0].json_body] * 3
    assert api.order("C-2", {"member_id": member_id}, 100).json_body["balance"] == 51


def test_same_order_id_with_other_amount_is_409(api: Api) -> None:
    _, member_id = api.login("dan")
    api.order("D-1", {"member_id": member_id}, 5000)
    response = api.order("D-1", {"member_id": member_id}, 9000)
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "idempotency_key_reused"


def test_order_for_unknown_member_is_404_naming_member(api: Api) -> None:
    response = api.order("E-1", {"openid": "o_nobody"}, 5000)
    assert response.status_code == 404
    assert response.json_body["error"]["fields"][0]["field"] == "member"


def test_order_validation_names_each_bad_field(api: Api) -> None:
    _, member_id = api.login("eve")
    cases = [
        ({"amount_fen": -1}, "amount_fen"),
        ({"amount_fen": 10.5}, "amount_fen"),
        ({"amount_fen": "100"}, "amount_fen"),
        ({"paid_at": "yesterday"}, "paid_at"),
        ({"paid_at": "2026-11-20T10:00:00"}, "paid_at"),
        ({"member": {"member_id": member_id, "openid": "o_eve"}}, "member"),
        ({"member": {}}, "member"),
        ({"order_id": "has space"}, "order_id"),
    ]
    for override, field in cases:
        payload = {
            "order_id": "F-1",
            "member": {"member_id": member_id},
            "amount_fen": 100,
            "paid_at": "2026-11-20T10:00:00+08:00",
            **override,
        }
        body = dumps(payload)
        response = api.http.post("/v1/orders", body=body, headers=pos_headers("POST", "/v1/orders", body))
        assert response.status_code == 400, override
        fields = [f["field"] for f in response.json_body["error"]["fields"]]
        assert any(f.startswith(field) for f in fields), (override, fields)


def test_unsigned_stale_or_tampered_pos_calls_are_401_and_change_nothing(api: Api) -> None:
    token, member_id = api.login("finn")
    body = dumps(
        {
            "order_id": "G-1",
            "member": {"member_id": member_id},
            "amount_fen": 100_000,
            "paid_at": "2026-11-20T10:00:00+08:00",
        }
    )
    good = pos_headers("POST", "/v1/orders", body)
    tampered_body = body.replace(b"100000", b"900000")
    for headers, sent in [
        ({"Content-Type": "application/json"}, body),
        (pos_headers("POST", "/v1/orders", body, timestamp=int(time.time()) - 3600), body),
        (good, tampered_body),
        ({**good, "X-Client-Id": "pos-unknown"}, body),
        ({**good, "X-Signature": "0" * 64}, body),
    ]:
        assert api.http.post("/v1/orders", body=sent, headers=headers).status_code == 401
    assert api.me(token).json_body["points"]["balance"] == 0


def test_partial_then_full_refund_claws_back_exactly_what_was_earned(api: Api) -> None:
    token, member_id = api.login("gia")
    api.order("H-1", {"member_id": member_id}, 10_000)
    partial = api.refund("H-1", {"refund_id": "R1", "amount_fen": 3_333})
    assert partial.status_code == 200
    assert partial.json_body["points_reversed"] == 33
    rest = api.refund("H-1", {})
    assert rest.json_body["refund_fen"] == 6_667 and rest.json_body["points_reversed"] == 67
    assert api.me(token).json_body["points"]["balance"] == 0
    again = api.refund("H-1", {"refund_id": "R2", "amount_fen": 1})
    assert again.status_code == 409 and again.json_body["error"]["code"] == "refund_exceeds_order"


def test_retried_refund_reverses_once(api: Api) -> None:
    token, member_id = api.login("hal")
    api.order("I-1", {"member_id": member_id}, 10_000)
    results = [api.refund("I-1", {"refund_id": "R1", "amount_fen": 5_000}) for _ in range(3)]
    assert [r.json_body for r in results] == [results[0].json_body] * 3
    assert api.me(token).json_body["points"]["balance"] == 50


def test_refund_after_points_were_spent_leaves_debt_that_next_earning_repays(api: Api) -> None:
    token, member_id = api.login("ida")
    api.order("J-1", {"member_id": member_id}, 10_000)
    assert api.redeem(token, 80, "spend").status_code == 201
    refund = api.refund("J-1", {})
    assert refund.json_body["balance"] == -80
    ledger = api.http.get("/v1/me/points/ledger", headers={"Authorization": f"Bearer {token}"}).json_body
    assert ledger["items"][0]["kind"] == "reverse" and ledger["items"][0]["balance_after"] == -80
    assert api.redeem(token, 1, "no-more").status_code == 409
    assert api.order("J-2", {"member_id": member_id}, 10_000).json_body["balance"] == 20
    assert list(reconcile([member_id])) == []


def test_refund_of_unknown_order_is_404(api: Api) -> None:
    response = api.refund("nope", {})
    assert response.status_code == 404
    assert json.loads(json.dumps(response.json_body))["error"]["code"] == "order_not_found"


def test_partial_refund_needs_an_id_to_be_safe_to_retry(api: Api) -> None:
    _, member_id = api.login("jon")
    api.order("K-1", {"member_id": member_id}, 10_000)
    body = dumps({"amount_fen": 100})
    path = "/v1/orders/K-1/refund"
    headers = {**pos_headers("POST", path, body), "Idempotency-Key": "rk-1"}
    first = api.http.post(path, body=body, headers=headers)
    second = api.http.post(path, body=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json_body == second.json_body and first.json_body["refund_id"] == "rk-1"
