"""Each authentication failure has its own code (the message stays generic), and an operator
id that keeps failing is locked out for a while."""

from __future__ import annotations

from datetime import timedelta

from chalicelib import clock
from tests.support.api import Api, dumps, operator_headers, paid_at, pos_headers

GENERIC = "登录已失效，请重新登录"


def _order_body(member_id: str) -> bytes:
    return dumps({"order_id": "AU-1", "member": {"member_id": member_id}, "amount_fen": 100, "paid_at": paid_at()})


def test_each_pos_failure_names_its_cause_with_one_generic_message(api: Api) -> None:
    _, member_id = api.login("auth")
    body = _order_body(member_id)
    good = pos_headers("POST", "/v1/orders", body)
    stale = pos_headers("POST", "/v1/orders", body, timestamp=int(clock.epoch_seconds()) - 3600)
    cases = {
        "pos_credentials_missing": {"Content-Type": "application/json"},
        "pos_unknown_client": {**good, "X-Client-Id": "pos-unknown"},
        "pos_timestamp_out_of_window": stale,
        "pos_bad_signature": {**good, "X-Signature": "0" * 64},
    }
    for code, headers in cases.items():
        response = api.http.post("/v1/orders", body=body, headers=headers)
        assert response.status_code == 401, code
        assert (response.json_body["error"]["code"], response.json_body["error"]["message"]) == (code, GENERIC)


def test_an_operator_id_is_locked_out_after_five_failures_even_with_the_right_key(api: Api) -> None:
    _, member_id = api.login("lock")
    path = f"/admin/members/{member_id}/points/adjustments"
    body = dumps({"points": 5, "reason": "test"})

    def adjust(key: str | None, idem: str) -> object:
        return api.http.post(path, body=body, headers={**operator_headers("alice", key), "Idempotency-Key": idem})

    codes = [adjust("wrong", f"w{n}").json_body["error"]["code"] for n in range(5)]
    assert codes == ["operator_bad_credentials"] * 5
    locked = adjust(None, "right-1")
    assert locked.status_code == 401 and locked.json_body["error"]["code"] == "operator_locked_out"
    assert api.me(api.login("lock")[0]).json_body["points"]["balance"] == 0

    clock.pin(clock.utc_now() + timedelta(minutes=16))  # the window has passed
    assert adjust(None, "right-2").status_code == 201
    assert adjust("wrong", "w9").json_body["error"]["code"] == "operator_bad_credentials"  # the count began anew


def test_another_operator_is_not_locked_out_by_someone_guessing_alice(api: Api) -> None:
    _, member_id = api.login("lock2")
    path = f"/admin/members/{member_id}/points/adjustments"
    body = dumps({"points": 5, "reason": "test"})
    for n in range(6):
        api.http.post(path, body=body, headers={**operator_headers("alice", "nope"), "Idempotency-Key": f"g{n}"})
    ok = api.http.post(path, body=body, headers={**operator_headers("bob"), "Idempotency-Key": "bob-1"})
    assert ok.status_code == 201
