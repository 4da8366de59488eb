"""Operator sign-in, accounts and the audit trail (操作审计)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.store.models import AuditModel, OperatorModel
from tests.support.api import Api, dumps, member_headers, operator_headers
from tests.support.operators import OPERATOR_KEYS, with_password

PASSWORD = "correct horse battery"


def _login(api: Api, operator_id: str, password: str) -> Any:
    body = dumps({"operator_id": operator_id, "password": password})
    return api.http.post("/admin/auth/login", body=body, headers={"Content-Type": "application/json"})


def _bearer(token: str) -> dict[str, str]:
    return member_headers(token)


def _signed_in(api: Api, operator_id: str = "dana") -> str:
    with_password(operator_id, PASSWORD)
    response = _login(api, operator_id, PASSWORD)
    assert response.status_code == 200, response.body
    return str(response.json_body["token"])


def _audit(api: Api, query: str = "", operator: str = "erin") -> Any:
    return api.http.get(f"/admin/audit{query}", headers=operator_headers(operator))


# Sign-in ----------------------------------------------------------------------------------------


def test_a_password_sign_in_gives_a_token_carrying_the_role(api: Api) -> None:
    with_password("erin", PASSWORD)
    signed = _login(api, "erin", PASSWORD).json_body

    me = api.http.get("/admin/auth/me", headers=_bearer(signed["token"]))

    assert (signed["role"], signed["expires_in"]) == ("auditor", 1800)
    assert me.status_code == 200 and me.json_body["operator_id"] == "erin"
    # The auditor's token reads the trail and may not adjust points.
    assert api.http.get("/admin/audit", headers=_bearer(signed["token"])).status_code == 200
    adjust = api.http.post(
        "/admin/members/m_x/points/adjustments",
        body=dumps({"points": 5, "reason": "x"}),
        headers={**_bearer(signed["token"]), "Idempotency-Key": "k1"},
    )
    assert adjust.status_code == 403


def test_passwords_are_stored_as_argon2id_and_keys_as_hashes(api: Api) -> None:
    _signed_in(api, "dana")
    created = api.http.post(
        "/admin/operators",
        body=dumps(
            {"operator_id": "frank", "role": "operator", "display_name": "Frank", "password": "s3cret-enough-pw"}
        ),
        headers=operator_headers("dana"),
    )
    key = api.http.post("/admin/operators/frank/keys", headers=operator_headers("dana")).json_body["key"]

    stored = OperatorModel.get("frank")
    assert created.status_code == 201 and created.json_body["has_password"] is True
    assert stored.password_hash is not None and stored.password_hash.startswith("$argon2id$")
    assert "s3cret-enough-pw" not in str(stored.attribute_values)
    assert key not in str(stored.attribute_values)
    assert api.http.get("/admin/auth/me", headers=operator_headers("frank", key=key)).status_code == 200


def test_repeated_failures_lock_the_id_even_for_the_right_password(api: Api) -> None:
    with_password("alice", PASSWORD)
    failures = [_login(api, "alice", f"wrong-{n}").status_code for n in range(5)]

    locked = _login(api, "alice", PASSWORD)

    assert failures == [401] * 5
    assert (locked.status_code, locked.json_body["error"]["code"]) == (401, "operator_locked_out")
    # An unknown id answers exactly as a wrong password does.
    unknown = _login(api, "nobody", PASSWORD).json_body["error"]["code"]
    assert unknown == _login(api, "bob", "wrong").json_body["error"]["code"] == "operator_bad_credentials"


def test_sign_out_revokes_every_console_token_of_the_operator(api: Api) -> None:
    first, second = _signed_in(api), _login(api, "dana", PASSWORD).json_body["token"]

    out = api.http.post("/admin/auth/logout", headers=_bearer(first))

    assert out.status_code == 200 and out.json_body["revoked"] is True
    for token in (first, second):
        refused = api.http.get("/admin/auth/me", headers=_bearer(token))
        assert (refused.status_code, refused.json_body["error"]["code"]) == (401, "operator_token_revoked")
    assert api.http.get("/admin/auth/me", headers=operator_headers("dana")).status_code == 200  # scripts go on


def test_a_changed_role_or_a_disabled_account_ends_tokens_and_keys(api: Api) -> None:
    token = _signed_in(api, "alice")

    api.http.patch("/admin/operators/alice", body=dumps({"role": "auditor"}), headers=operator_headers("dana"))
    assert api.http.get("/admin/auth/me", headers=_bearer(token)).status_code == 401
    api.http.patch("/admin/operators/bob", body=dumps({"status": "disabled"}), headers=operator_headers("dana"))

    assert api.http.get("/admin/auth/me", headers=operator_headers("bob")).status_code == 401
    assert _login(api, "alice", PASSWORD).json_body["role"] == "auditor"


def test_an_admin_cannot_demote_themselves_nor_the_last_admin_be_demoted(api: Api) -> None:
    own = api.http.patch("/admin/operators/dana", body=dumps({"role": "operator"}), headers=operator_headers("dana"))
    api.http.post(
        "/admin/operators",
        body=dumps({"operator_id": "gina", "role": "admin", "display_name": "Gina"}),
        headers=operator_headers("dana"),
    )
    key = api.http.post("/admin/operators/gina/keys", headers=operator_headers("dana")).json_body["key"]
    by_other = api.http.patch(
        "/admin/operators/dana", body=dumps({"status": "disabled"}), headers=operator_headers("gina", key=key)
    )
    last = api.http.patch(
        "/admin/operators/gina", body=dumps({"role": "operator"}), headers=operator_headers("gina", key=key)
    )

    assert own.status_code == 403
    assert by_other.status_code == 200  # two admins: one may disable the other
    assert last.status_code == 403  # gina is now the only active admin, and it is herself anyway


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"operator_id": "Has Space", "role": "operator", "display_name": "x"}, "operator_id"),
        ({"operator_id": "hank", "role": "staff", "display_name": "x"}, "role"),
        ({"operator_id": "hank", "role": "operator", "display_name": "x", "password": "short"}, "password"),
        ({"operator_id": "hank", "role": "operator", "display_name": "x", "password": "hank-hank-hank-1"}, "password"),
        ({"operator_id": "hank", "role": "operator", "display_name": "x", "password": "aaaaaaaaaaaaaa"}, "password"),
    ],
)
def test_bad_operator_accounts_are_refused_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    response = api.http.post("/admin/operators", body=dumps(body), headers=operator_headers("dana"))

    assert response.status_code == 400
    assert [f["field"] for f in response.json_body["error"]["fields"]] == [field]
    assert OperatorModel.count() == len(OPERATOR_KEYS)


def test_an_existing_operator_id_is_a_conflict(api: Api) -> None:
    body = dumps({"operator_id": "alice", "role": "admin", "display_name": "Mallory"})

    response = api.http.post("/admin/operators", body=body, headers=operator_headers("dana"))

    assert response.status_code == 409
    assert OperatorModel.get("alice").role == "operator"


# The audit trail --------------------------------------------------------------------------------


def test_an_adjustment_is_audited_with_who_what_and_before_after(api: Api) -> None:
    _, member_id = api.login("ann")
    assert api.adjust(member_id, 300, "adj-1").status_code == 201

    [entry] = _audit(api, f"?target=member:{member_id}").json_body["items"]

    assert (entry["operator"], entry["role"]) == ("alice", "operator")
    assert entry["action"] == "POST /admin/members/{member_id}/points/adjustments"
    assert entry["before"]["balance"] == 0 and entry["after"]["balance"] == 300
    assert _audit(api, "?operator=alice").json_body["items"][0]["audit_id"] == entry["audit_id"]


def test_a_replayed_adjustment_adds_no_second_entry_and_a_refused_one_none(api: Api) -> None:
    _, member_id = api.login("ann")
    api.adjust(member_id, 300, "adj-1")
    api.adjust(member_id, 300, "adj-1")
    refused = api.adjust(member_id, -900, "adj-2")  # more than the balance

    entries = _audit(api, f"?target=member:{member_id}").json_body["items"]

    assert refused.status_code == 409
    assert len(entries) == 1


def test_an_audit_entry_that_cannot_be_written_leaves_the_effect_undone(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry and its effect are one transaction: an entry refused (here: its id already
    taken) cancels the adjustment too."""
    from chalicelib.store import audit_repo

    _, member_id = api.login("ann")
    taken = "taken-request-id"
    AuditModel(
        taken, at="x", at_id="x", month="x", operator="x", role="x", action="x", target="x", request_id="x"
    ).save()
    original = audit_repo.stage_scoped

    def stage_with_a_taken_id(uow: Any) -> Any:
        scope = audit_repo.current()
        if scope is not None:
            scope.entry.audit_id = taken
        return original(uow)

    monkeypatch.setattr(audit_repo, "stage_scoped", stage_with_a_taken_id)
    response = api.adjust(member_id, 300, "adj-1")
    monkeypatch.undo()

    assert response.status_code >= 500 or response.status_code == 409
    token, _ = api.login("ann")
    assert api.me(token).json_body["points"]["balance"] == 0
    assert _audit(api, f"?target=member:{member_id}").json_body["items"] == []


def test_the_trail_pages_newest_first_across_months_with_a_signed_cursor(api: Api, pinned_clock: Any) -> None:
    from datetime import timedelta

    from chalicelib import clock

    _, member_id = api.login("ann")
    for n, days_ago in enumerate((70, 40, 10, 0)):
        clock.pin(pinned_clock - timedelta(days=days_ago))
        assert api.adjust(member_id, 10 + n, f"adj-{n}").status_code == 201
    clock.pin(pinned_clock + timedelta(minutes=1))

    first = _audit(api, "?limit=3").json_body
    second = _audit(api, f"?limit=3&cursor={first['next_cursor']}").json_body
    tampered = _audit(api, f"?limit=3&cursor={first['next_cursor'][:-2]}00")

    points = [item["after"]["balance"] for item in first["items"] + second["items"]]
    assert points == sorted(points, reverse=True) and len(points) == 4
    assert second["next_cursor"] is None
    assert tampered.status_code == 400 and tampered.json_body["error"]["fields"][0]["field"] == "cursor"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?from=2026-12-01T00:00:00%2B08:00&to=2026-11-01T00:00:00%2B08:00", "from"),
        ("?from=2020-01-01T00:00:00%2B08:00&to=2026-11-01T00:00:00%2B08:00", "from"),
        ("?from=2026-11-01", "from"),
        ("?operator=Not%20An%20Id", "operator"),
        ("?limit=0", "limit"),
    ],
)
def test_bad_audit_queries_are_400_naming_the_field(api: Api, query: str, field: str) -> None:
    response = _audit(api, query)

    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == field


def test_operators_may_not_read_the_trail(api: Api) -> None:
    assert _audit(api, operator="alice").status_code == 403
    assert _audit(api, operator="dana").status_code == 200


def test_a_campaign_and_its_cancel_are_audited(api: Api) -> None:
    body = dumps(
        {
            "name": "会员日",
            "template": "campaign.member_day",
            "audience": {"channel": "mp"},
            "send_at": "2026-11-25T10:00:00+08:00",
        }
    )
    created = api.http.post("/admin/campaigns", body=body, headers={**operator_headers("bob"), "Idempotency-Key": "c1"})
    campaign_id = created.json_body["campaign_id"]
    api.http.post(f"/admin/campaigns/{campaign_id}/cancel", headers=operator_headers("carol"))

    entries = _audit(api, f"?target=campaign:{campaign_id}").json_body["items"]

    assert created.status_code == 201
    assert [(e["operator"], e["after"].get("status")) for e in entries] == [("carol", "cancelled"), ("bob", None)]


def test_operator_account_changes_are_audited_without_secrets(api: Api) -> None:
    api.http.post(
        "/admin/operators",
        body=dumps({"operator_id": "ivy", "role": "operator", "display_name": "Ivy", "password": "plum-long-pass-9"}),
        headers=operator_headers("dana"),
    )
    key = api.http.post("/admin/operators/ivy/keys", headers=operator_headers("dana")).json_body["key"]
    api.http.patch(
        "/admin/operators/ivy", body=dumps({"password": "another-long-pw-1"}), headers=operator_headers("dana")
    )

    entries = _audit(api, "?target=operator:ivy").json_body["items"]

    assert len(entries) == 3 and all(e["operator"] == "dana" for e in entries)
    trail = str(entries)
    assert "plum-long-pass-9" not in trail and "another-long-pw-1" not in trail and key not in trail
    assert entries[0]["after"]["sign_in_reset"] is True


def test_the_cli_creates_the_first_admin_who_can_sign_in(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    from chalicelib.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO("first-admin-pass-1\n"))
    code = main(["operators", "create", "root", "--role", "admin", "--password-stdin"])
    weak = main(["operators", "create", "root2", "--role", "admin", "--password-stdin"])  # stdin is empty now

    assert code == 0 and weak == 1
    assert _login(api, "root", "first-admin-pass-1").json_body["role"] == "admin"
    entries = _audit(api, "?target=operator:root").json_body["items"]
    assert [e["action"] for e in entries] == ["POST /admin/auth/login", "CLI operators create"]
    assert entries[1]["operator"].startswith("cli:")
    assert "could not" not in capsys.readouterr().err
