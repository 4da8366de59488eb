"""`/v1/me/subscriptions`: what wx.requestSubscribeMessage reported becomes consents, exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.store import notify_repo
from tests.support.api import Api, dumps, member_headers

EXPIRING, BIRTHDAY = "tmpl_points_expiring", "tmpl_birthday"


def _report(api: Api, token: str, results: Any, key: str | None = "k1") -> Any:
    extra = {} if key is None else {"Idempotency-Key": key}
    return api.http.post(
        "/v1/me/subscriptions", body=dumps({"results": results}), headers=member_headers(token, **extra)
    )


def test_each_accepted_template_allows_one_more_message(api: Api) -> None:
    token, _ = api.login("subscriber")

    first = _report(api, token, {EXPIRING: "accept", BIRTHDAY: "accept"}, "k1")
    second = _report(api, token, {EXPIRING: "accept", BIRTHDAY: "reject"}, "k2")

    assert first.status_code == second.status_code == 200
    assert second.json_body["consents"] == {EXPIRING: 2, BIRTHDAY: 1}
    listed = api.http.get("/v1/me/subscriptions", headers=member_headers(token))
    assert listed.status_code == 200 and listed.json_body == {"consents": {EXPIRING: 2, BIRTHDAY: 1}}


@pytest.mark.parametrize("choice", ["reject", "ban", "filter"])
def test_declined_template_allows_nothing(api: Api, choice: str) -> None:
    token, member_id = api.login(f"decliner_{choice}")

    response = _report(api, token, {EXPIRING: choice})

    assert response.status_code == 200 and response.json_body["consents"] == {}
    assert notify_repo.consents(member_id) == {}


def test_concurrent_retries_of_one_report_add_one_consent(api: Api) -> None:
    token, member_id = api.login("impatient")

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(pool.map(lambda _: _report(api, token, {EXPIRING: "accept"}, "tap-1").status_code, range(6)))

    assert statuses == [200] * 6
    assert notify_repo.consents(member_id) == {EXPIRING: 1}


def test_one_key_used_by_two_members_counts_for_each(api: Api) -> None:
    token_a, member_a = api.login("same_key_a")
    token_b, member_b = api.login("same_key_b")

    _report(api, token_a, {EXPIRING: "accept"}, "uuid-1")
    _report(api, token_b, {EXPIRING: "accept"}, "uuid-1")

    assert notify_repo.consents(member_a) == notify_repo.consents(member_b) == {EXPIRING: 1}


def test_report_without_idempotency_key_is_refused(api: Api) -> None:
    token, member_id = api.login("keyless")

    response = _report(api, token, {EXPIRING: "accept"}, key=None)

    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == "Idempotency-Key"
    assert notify_repo.consents(member_id) == {}


def test_report_with_an_unknown_template_changes_nothing(api: Api) -> None:
    token, member_id = api.login("mixed")

    response = _report(api, token, {EXPIRING: "accept", "tmpl_elsewhere": "reject"})

    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == "results.tmpl_elsewhere"
    assert notify_repo.consents(member_id) == {}


@pytest.mark.parametrize(
    ("results", "field"),
    [({EXPIRING: "yes"}, f"results.{EXPIRING}"), ({}, "results"), ([EXPIRING], "results"), ({EXPIRING: 1}, None)],
)
def test_malformed_report_is_a_400_naming_the_field(api: Api, results: Any, field: str | None) -> None:
    token, member_id = api.login("sloppy")

    response = _report(api, token, results)

    assert response.status_code == 400
    fields = [f["field"] for f in response.json_body["error"]["fields"]]
    assert fields and (field is None or field in fields)
    assert notify_repo.consents(member_id) == {}


def test_subscriptions_need_a_member_token(api: Api) -> None:
    assert api.http.get("/v1/me/subscriptions").status_code == 401
    response = api.http.post("/v1/me/subscriptions", body=dumps({"results": {EXPIRING: "accept"}}))
    assert response.status_code == 401
