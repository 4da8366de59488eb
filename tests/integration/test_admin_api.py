"""Operator adjustments: audited, and above the threshold only after a second operator approves."""

from __future__ import annotations

from chalicelib.store import points_repo
from tests.support.api import Api, dumps, operator_headers, pos_headers


def test_small_adjustment_applies_at_once_with_operator_and_reason(api: Api) -> None:
    token, member_id = api.login("ann")
    response = api.adjust(member_id, 200, "adj-1")
    assert response.status_code == 201
    assert response.json_body["status"] == "applied" and response.json_body["balance"] == 200
    entry = points_repo.get_entry(response.json_body["entry_id"])
    assert entry is not None and entry.operator == "alice" and entry.reason == "service recovery"
    assert [api.adjust(member_id, 200, "adj-1").json_body for _ in range(2)] == [response.json_body] * 2
    assert api.me(token).json_body["points"]["balance"] == 200


def test_negative_adjustment_cannot_overdraw(api: Api) -> None:
    _, member_id = api.login("bea")
    api.adjust(member_id, 50, "a")
    assert api.adjust(member_id, -60, "b").status_code == 409
    assert api.adjust(member_id, -50, "c").json_body["balance"] == 0


def test_large_adjustment_waits_for_a_second_operator(api: Api) -> None:
    token, member_id = api.login("cid")
    pending = api.adjust(member_id, 5000, "big")
    assert pending.json_body["status"] == "pending"
    assert api.me(token).json_body["points"]["balance"] == 0
    approval = pending.json_body["approval_id"]
    path = f"/admin/approvals/{approval}/approve"
    own = api.http.post(path, body=b"{}", headers=operator_headers("alice"))
    assert own.status_code == 403
    approved = [api.http.post(path, body=b"{}", headers=operator_headers("bob")) for _ in range(3)]
    assert {r.status_code for r in approved} == {200}
    assert approved[0].json_body["status"] == "applied"
    assert api.me(token).json_body["points"]["balance"] == 5000
    assert api.adjust(member_id, 5000, "big").json_body["approval_id"] == approval


def test_admin_rejects_missing_wrong_and_pos_credentials(api: Api) -> None:
    _, member_id = api.login("dee")
    path = f"/admin/members/{member_id}/points/adjustments"
    body = dumps({"points": 10, "reason": "x"})
    for headers in [
        {"Content-Type": "application/json", "Idempotency-Key": "k"},
        {**operator_headers("alice", key="wrong"), "Idempotency-Key": "k"},
        {**pos_headers("POST", path, body), "Idempotency-Key": "k"},
    ]:
        assert api.http.post(path, body=body, headers=headers).status_code == 401


def test_adjustment_of_unknown_member_is_404(api: Api) -> None:
    assert api.adjust("m_missing", 10, "x").status_code == 404
    assert api.adjust("m_missing", 5000, "y").status_code == 404
