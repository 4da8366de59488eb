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
    """No or wrong credentials prove nobody (401); a POS's valid signature proves a POS, whose
    role may not adjust points (403)."""
    _, member_id = api.login("dee")
    path = f"/admin/members/{member_id}/points/adjustments"
    body = dumps({"points": 10, "reason": "x"})
    for headers, status in [
        ({"Content-Type": "application/json", "Idempotency-Key": "k"}, 401),
        ({**operator_headers("alice", key="wrong"), "Idempotency-Key": "k"}, 401),
        ({**pos_headers("POST", path, body), "Idempotency-Key": "k"}, 403),
    ]:
        assert api.http.post(path, body=body, headers=headers).status_code == status


def test_adjustment_of_unknown_member_is_404(api: Api) -> None:
    assert api.adjust("m_missing", 10, "x").status_code == 404
    assert api.adjust("m_missing", 5000, "y").status_code == 404


def test_two_adjustments_at_the_threshold_by_one_operator_cannot_both_apply(api: Api) -> None:
    """The split attack: the threshold holds for what one operator grants one member in 24 h."""
    token, member_id = api.login("spl")
    first, second = api.adjust(member_id, 1000, "s1"), api.adjust(member_id, 1000, "s2")
    assert (first.json_body["status"], second.json_body["status"]) == ("applied", "pending")
    assert api.adjust(member_id, -1, "s3").json_body["status"] == "pending"  # deductions count too
    assert api.adjust(member_id, 1000, "b1", operator="bob").json_body["status"] == "applied"  # bob's own window
    assert api.me(token).json_body["points"]["balance"] == 2000
    assert [api.adjust(member_id, 1000, "s2").json_body["status"] for _ in range(2)] == ["pending"] * 2


def test_the_window_rolls_after_24_hours(api: Api) -> None:
    from datetime import timedelta

    from chalicelib import clock

    _, member_id = api.login("rol")
    assert api.adjust(member_id, 900, "r1").json_body["status"] == "applied"
    clock.pin(clock.utc_now() + timedelta(hours=23))
    assert api.adjust(member_id, 200, "r2").json_body["status"] == "pending"
    clock.pin(clock.utc_now() + timedelta(hours=1, minutes=1))
    assert api.adjust(member_id, 200, "r3").json_body["status"] == "applied"


def test_an_operators_daily_total_across_members_is_limited(api: Api, monkeypatch) -> None:
    from chalicelib.settings import get_settings

    monkeypatch.setenv("ADJUST_OPERATOR_DAILY_LIMIT", "2500")
    get_settings.cache_clear()
    members = [api.login(f"day{n}")[1] for n in range(3)]
    statuses = [api.adjust(member, 1000, f"d{n}").json_body["status"] for n, member in enumerate(members)]
    assert statuses == ["applied", "applied", "pending"]
    assert api.adjust(members[2], 1000, "d-bob", operator="bob").json_body["status"] == "applied"


def test_each_operator_has_their_own_idempotency_key_space(api: Api) -> None:
    _, member_id = api.login("ksp")
    alice = api.adjust(member_id, 10, "same-key")
    bob = api.adjust(member_id, 20, "same-key", operator="bob")
    assert (alice.status_code, bob.status_code) == (201, 201)
    assert bob.json_body["balance"] == 30
