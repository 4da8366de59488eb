"""POS / mall server API: signed order and refund calls, idempotent, with clawback and debt."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from chalicelib import clock
from chalicelib.clock import epoch_seconds
from chalicelib.services.reconcile import reconcile
from chalicelib.store import points_repo
from tests.support.api import POS_SECRETS, Api, dumps, paid_at, pos_headers


def test_paid_order_earns_one_point_per_whole_yuan(api: Api) -> None:
    _, member_id = api.login("amy")
    response = api.order("A-1", {"member_id": member_id}, 19_999, store_id="SH-01")
    assert response.status_code == 200
    assert response.json_body == {
        "order_id": "A-1",
        "member_id": member_id,
        "points_earned": 199,
        "balance": 199,
        "points_pending": 0,
        "release_on": None,
    }


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
        ({"paid_at": paid_at()[:19]}, "paid_at"),
        ({"member": {"member_id": member_id, "openid": "o_eve"}}, "member"),
        ({"member": {}}, "member"),
        ({"order_id": "has space"}, "order_id"),
    ]
    for override, field in cases:
        payload = {
            "order_id": "F-1",
            "member": {"member_id": member_id},
            "amount_fen": 100,
            "paid_at": paid_at(),
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
            "paid_at": paid_at(),
        }
    )
    good = pos_headers("POST", "/v1/orders", body)
    tampered_body = body.replace(b"100000", b"900000")
    for headers, sent in [
        ({"Content-Type": "application/json"}, body),
        (pos_headers("POST", "/v1/orders", body, timestamp=int(epoch_seconds()) - 3600), body),
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


def test_partial_refund_needs_its_refund_id_in_the_signed_body(api: Api) -> None:
    _, member_id = api.login("jon")
    api.order("K-1", {"member_id": member_id}, 10_000)
    path = "/v1/orders/K-1/refund"
    unnamed = dumps({"amount_fen": 100})
    refused = api.http.post(path, body=unnamed, headers=pos_headers("POST", path, unnamed))
    assert refused.status_code == 400 and refused.json_body["error"]["fields"][0]["field"] == "refund_id"
    body = dumps({"amount_fen": 100, "refund_id": "rk-1"})
    first = api.http.post(path, body=body, headers=pos_headers("POST", path, body))
    second = api.http.post(path, body=body, headers=pos_headers("POST", path, body))
    assert first.status_code == second.status_code == 200
    assert first.json_body == second.json_body and first.json_body["refund_id"] == "rk-1"


def test_a_captured_signed_refund_replayed_under_new_idempotency_keys_reverses_once(api: Api) -> None:
    """The attack: the signature does not cover headers, so each new Idempotency-Key was a new refund."""
    token, member_id = api.login("cap")
    api.order("CAP-1", {"member_id": member_id}, 10_000)
    path = "/v1/orders/CAP-1/refund"
    body = dumps({"amount_fen": 1_000, "refund_id": "r-1"})
    captured = pos_headers("POST", path, body)
    answers = [api.http.post(path, body=body, headers={**captured, "Idempotency-Key": f"k{n}"}) for n in range(3)]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert all(a.json_body["error"]["fields"][0]["field"] == "Idempotency-Key" for a in answers)
    replays = [api.http.post(path, body=body, headers=captured) for _ in range(3)]
    assert [r.status_code for r in replays] == [200, 200, 200]
    assert api.me(token).json_body["points"]["balance"] == 90  # 100 earned, 10 reversed once


def test_a_future_signature_timestamp_beyond_the_skew_is_401(api: Api) -> None:
    _, member_id = api.login("fts")
    body = dumps({"order_id": "FTS-1", "member": {"member_id": member_id}, "amount_fen": 100, "paid_at": paid_at()})
    ahead = pos_headers("POST", "/v1/orders", body, timestamp=int(epoch_seconds()) + 120)
    response = api.http.post("/v1/orders", body=body, headers=ahead)
    assert response.status_code == 401 and response.json_body["error"]["code"] == "pos_timestamp_out_of_window"
    slightly = pos_headers("POST", "/v1/orders", body, timestamp=int(epoch_seconds()) + 20)
    assert api.http.post("/v1/orders", body=body, headers=slightly).status_code == 200


def test_another_pos_client_cannot_refund_an_order_or_read_it_by_reusing_its_id(api: Api) -> None:
    _, member_id = api.login("own")
    api.order("OWN-1", {"member_id": member_id}, 10_000)
    path = "/v1/orders/OWN-1/refund"
    body = dumps({})
    other = pos_headers("POST", path, body, client=("pos-2", POS_SECRETS["pos-2"]))
    refused = api.http.post(path, body=body, headers=other)
    assert refused.status_code == 403 and refused.json_body["error"]["fields"][0]["field"] == "order_id"
    order = dumps({"order_id": "OWN-1", "member": {"member_id": member_id}, "amount_fen": 10_000, "paid_at": paid_at()})
    reuse = api.http.post(
        "/v1/orders",
        body=order,
        headers=pos_headers("POST", "/v1/orders", order, client=("pos-2", POS_SECRETS["pos-2"])),
    )
    assert reuse.status_code == 409 and reuse.json_body["error"]["fields"][0]["field"] == "order_id"


def test_reusing_an_order_id_with_another_body_names_order_id(api: Api) -> None:
    _, member_id = api.login("reu")
    api.order("REU-1", {"member_id": member_id}, 10_000)
    again = api.order("REU-1", {"member_id": member_id}, 20_000)
    assert again.status_code == 409 and again.json_body["error"]["fields"][0]["field"] == "order_id"


def test_order_and_refund_ids_with_colons_never_share_a_key(api: Api) -> None:
    _, member_id = api.login("col")
    api.order("RT:X", {"member_id": member_id}, 10_000)
    api.order("RT", {"member_id": member_id}, 10_000)
    first = api.refund("RT:X", {"refund_id": "Y", "amount_fen": 1_000})
    second = api.refund("RT", {"refund_id": "X:Y", "amount_fen": 2_000})
    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json_body["points_reversed"], second.json_body["points_reversed"]) == (10, 20)


SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_an_order_paid_at_2358_and_reported_after_midnight_expires_with_that_month(api: Api) -> None:
    clock.pin(datetime(2026, 12, 1, 0, 3, tzinfo=SHANGHAI))
    _, member_id = api.login("nov")
    late = api.order("NOV-1", {"member_id": member_id}, 10_000, paid_at="2026-11-30T23:58:00+08:00")
    assert late.status_code == 200, late.body
    api.order("DEC-1", {"member_id": member_id}, 20_000, paid_at="2026-12-01T00:01:00+08:00")

    lots = {lot.expires_on.isoformat(): lot.remaining for lot in points_repo.load_lots(member_id)}
    assert lots == {"2027-11-30": 100, "2027-12-31": 200}


def test_paid_at_in_the_future_or_past_the_backdating_window_is_400_naming_paid_at(api: Api) -> None:
    _, member_id = api.login("fut")
    now = clock.utc_now().astimezone(SHANGHAI)
    for when in (now + timedelta(minutes=6), now - timedelta(days=30, minutes=1)):
        response = api.order("FUT-1", {"member_id": member_id}, 10_000, paid_at=when.isoformat())
        assert response.status_code == 400, when
        assert [f["field"] for f in response.json_body["error"]["fields"]] == ["paid_at"]
    within = api.order("FUT-1", {"member_id": member_id}, 10_000, paid_at=(now + timedelta(minutes=4)).isoformat())
    assert within.status_code == 200  # a POS clock a little ahead of ours is tolerated


def test_a_retried_order_answers_its_result_after_paid_at_left_the_window(api: Api) -> None:
    _, member_id = api.login("old")
    paid = (clock.utc_now() - timedelta(days=29)).astimezone(SHANGHAI).isoformat()
    first = api.order("OLD-1", {"member_id": member_id}, 10_000, paid_at=paid)
    clock.pin(clock.utc_now() + timedelta(days=3))
    retry = api.order("OLD-1", {"member_id": member_id}, 10_000, paid_at=paid)
    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.json_body == first.json_body
