"""Operators under concurrency: the lockout holds under a burst of guesses, and two admins
demoting each other at once still leave one admin."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.store.models import OperatorModel
from tests.support.api import Api, dumps, operator_headers
from tests.support.operators import with_password

PASSWORD = "correct horse battery"


def _login(api: Api, password: str) -> int:
    body = dumps({"operator_id": "alice", "password": password})
    status: int = api.http.post(
        "/admin/auth/login", body=body, headers={"Content-Type": "application/json"}
    ).status_code
    return status


def test_a_burst_of_guesses_locks_the_id_and_none_gets_in(api: Api) -> None:
    with_password("alice", PASSWORD)

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda n: _login(api, f"guess-{n}"), range(24)))

    assert set(statuses) == {401}
    assert _login(api, PASSWORD) == 401  # locked: the right password waits out the window


def test_two_admins_demoting_each_other_at_once_leave_one_admin(api: Api) -> None:
    api.http.post(
        "/admin/operators",
        body=dumps({"operator_id": "gina", "role": "admin", "display_name": "Gina"}),
        headers=operator_headers("dana"),
    )
    gina_key = api.http.post("/admin/operators/gina/keys", headers=operator_headers("dana")).json_body["key"]

    def demote(pair: tuple[str, str, str | None]) -> Any:
        by, target, key = pair
        return api.http.patch(
            f"/admin/operators/{target}", body=dumps({"role": "operator"}), headers=operator_headers(by, key=key)
        ).status_code

    for _ in range(3):  # the race is tried a few times; each must leave exactly one admin
        with ThreadPoolExecutor(2) as pool:
            statuses = list(pool.map(demote, [("dana", "gina", None), ("gina", "dana", gina_key)]))
        admins = [o.operator_id for o in OperatorModel.scan() if o.role == "admin" and o.status == "active"]
        assert len(admins) >= 1, statuses
        if sorted(statuses) != [200, 200]:
            break
    assert len([o for o in OperatorModel.scan() if o.role == "admin"]) == 1
