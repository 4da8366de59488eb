"""Action rules (行为积分) through the signed API: each cap at its boundary on the Shanghai
calendar (day, ISO week from Monday, month), the budget over all members, once-only actions,
replays, and refusals for unknown actions, bad times and callers that are not the brand's server."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.domain import ledger as kinds
from chalicelib.domain.programme import Programme
from chalicelib.security.tokens import issue_token
from chalicelib.services import programme
from chalicelib.store import points_repo, programme_repo
from chalicelib.store.models import OutboxModel
from tests.support.api import POS_SECRETS, SHANGHAI, Api, dumps, member_headers, pos_headers

PATH = "/v1/actions"


def publish(*rules: dict[str, Any]) -> None:
    document = programme.configured().model_dump(mode="json")
    document["earning"] = {**document["earning"], "actions": list(rules)}
    valid = Programme.model_validate(document, strict=False).model_dump(mode="json")
    programme_repo.publish(programme_repo.current_version(), valid, "t", "tests", None)
    programme.forget()


def shanghai(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def report(
    api: Api,
    action_id: str,
    member_id: str,
    action: str = "share",
    at: datetime | None = None,
    client: tuple[str, str] | None = None,
) -> Any:
    moment = at or clock.utc_now()
    body = dumps(
        {"action_id": action_id, "member": {"member_id": member_id}, "action": action, "at": moment.isoformat()}
    )
    return api.http.post(PATH, body=body, headers=pos_headers("POST", PATH, body, client=client))


def member(api: Api, name: str) -> str:
    return api.login(name)[1]


def at(moment: datetime) -> datetime:
    clock.pin(moment)
    return moment


def assert_refused(response: Any, code: str) -> None:
    assert response.status_code == 409, response.body
    error = response.json_body["error"]
    assert error["code"] == code
    assert error["message"] and error["message"] != code  # a Chinese text from the messages file
    assert error["fields"][0]["field"] == "action"


def action_entries(member_id: str) -> list[Any]:
    return list(points_repo.iter_member_entries(member_id, kind=kinds.ACTION))


# --- a reward, and its ledger entry --------------------------------------------------------------------


def test_an_action_earns_its_points_with_an_explained_ledger_entry(api: Api) -> None:
    publish({"action": "product_review", "points": 15})
    member_id = member(api, "reviewer")

    response = report(api, "rv-1", member_id, "product_review")

    assert response.status_code == 201, response.body
    assert response.json_body == {"action_id": "rv-1", "member_id": member_id, "points": 15, "balance": 15}
    (entry,) = action_entries(member_id)
    assert entry.entry_id == "action:pos-1:rv-1"
    assert entry.reason == "product_review"
    assert entry.detail["action_id"] == "rv-1" and entry.detail["pos_client"] == "pos-1"
    token = api.login("reviewer")[0]
    page = api.http.get("/v1/me/points/ledger", headers=member_headers(token)).json_body
    assert page["items"][0]["kind"] == "action"
    event = OutboxModel.get(f"{entry.entry_id}#points.earned")  # the member hears of it, as of an order
    assert event.data == {"points": 15, "balance": 15, "action": "product_review"}


def test_an_action_found_by_openid(api: Api) -> None:
    publish({"action": "share", "points": 2})
    member_id = member(api, "sharer")
    body = dumps(
        {"action_id": "o-1", "member": {"openid": "o_sharer"}, "action": "share", "at": clock.iso(clock.utc_now())}
    )
    response = api.http.post(PATH, body=body, headers=pos_headers("POST", PATH, body))
    assert response.status_code == 201, response.body
    assert response.json_body["member_id"] == member_id


# --- caps at their boundaries, on the Shanghai calendar ------------------------------------------------


def test_per_day_cap_holds_until_shanghai_midnight_not_utc(api: Api) -> None:
    publish({"action": "share", "points": 5, "per_day": 2})
    member_id = member(api, "daily")
    at(shanghai(20, 7, 30))  # 23:30 UTC the day before
    assert report(api, "d-1", member_id).status_code == 201
    at(shanghai(20, 8, 30))  # a new UTC day, the same Shanghai day
    assert report(api, "d-2", member_id).status_code == 201
    assert_refused(report(api, "d-3", member_id), "action_cap_reached")
    at(shanghai(20, 23, 59))
    assert_refused(report(api, "d-4", member_id), "action_cap_reached")
    at(shanghai(21, 0, 1))
    response = report(api, "d-5", member_id)

    assert response.status_code == 201, response.body
    assert response.json_body["balance"] == 15
    assert len(action_entries(member_id)) == 3


def test_a_backdated_action_counts_in_its_own_day(api: Api) -> None:
    publish({"action": "share", "points": 5, "per_day": 1})
    member_id = member(api, "backdated")
    at(shanghai(20, 12))
    assert report(api, "b-1", member_id).status_code == 201
    at(shanghai(21, 12))

    assert_refused(report(api, "b-2", member_id, at=shanghai(20, 18)), "action_cap_reached")
    assert report(api, "b-3", member_id).status_code == 201


def test_per_week_cap_resets_on_monday_in_shanghai(api: Api) -> None:
    publish({"action": "share", "points": 1, "per_week": 2})
    member_id = member(api, "weekly")
    at(shanghai(16, 0, 1))  # Monday
    assert report(api, "w-1", member_id).status_code == 201
    at(shanghai(22, 23, 58))  # Sunday, the same ISO week
    assert report(api, "w-2", member_id).status_code == 201
    assert_refused(report(api, "w-3", member_id), "action_cap_reached")
    at(shanghai(23, 0, 1))  # Monday in Shanghai, still Sunday in UTC

    assert report(api, "w-4", member_id).status_code == 201


def test_per_month_cap_resets_on_the_first_in_shanghai(api: Api) -> None:
    publish({"action": "share", "points": 1, "per_month": 1})
    member_id = member(api, "monthly")
    at(shanghai(1, 0, 1))
    assert report(api, "m-1", member_id).status_code == 201
    at(shanghai(30, 23, 59))
    assert_refused(report(api, "m-2", member_id), "action_cap_reached")
    at(shanghai(1, 0, 1, month=12))  # 30 November in UTC

    assert report(api, "m-3", member_id).status_code == 201


def test_caps_are_per_member_and_per_action(api: Api) -> None:
    publish({"action": "share", "points": 1, "per_day": 1}, {"action": "product_review", "points": 3, "per_day": 1})
    first, second = member(api, "cap-a"), member(api, "cap-b")
    assert report(api, "p-1", first).status_code == 201
    assert report(api, "p-2", second).status_code == 201
    assert report(api, "p-3", first, "product_review").status_code == 201
    assert_refused(report(api, "p-4", first), "action_cap_reached")


# --- the budget over all members, once-only actions ----------------------------------------------------


def test_the_budget_stops_at_its_last_whole_reward(api: Api) -> None:
    publish({"action": "share", "points": 10, "budget_points": 35})
    members = [member(api, f"budget-{n}") for n in range(4)]
    answers = [report(api, f"bg-{n}", member_id) for n, member_id in enumerate(members)]

    assert [a.status_code for a in answers] == [201, 201, 201, 409]
    assert_refused(answers[3], "action_budget_exhausted")
    assert action_entries(members[3]) == []


@pytest.mark.parametrize("action", ["registration", "complete_profile", "first_purchase"])
def test_once_only_actions_reward_once_ever(api: Api, action: str) -> None:
    publish({"action": action, "points": 100})
    member_id = member(api, f"once-{action}")
    assert report(api, "o-1", member_id, action).status_code == 201
    at(shanghai(28, 12))

    assert_refused(report(api, "o-2", member_id, action), "action_already_rewarded")
    assert len(action_entries(member_id)) == 1
    assert report(api, "o-3", member(api, f"other-{action}"), action).status_code == 201


# --- replays -------------------------------------------------------------------------------------------


def test_a_replayed_action_id_answers_the_same_once(api: Api) -> None:
    publish({"action": "share", "points": 5, "per_day": 1})
    member_id = member(api, "replayer")
    moment = clock.utc_now()
    first = report(api, "r-1", member_id, at=moment)
    again = report(api, "r-1", member_id, at=moment)

    assert first.status_code == again.status_code == 201
    assert again.json_body == first.json_body
    assert len(action_entries(member_id)) == 1
    publish()  # the rule is gone: the recorded answer still stands
    assert report(api, "r-1", member_id, at=moment).json_body == first.json_body


def test_an_action_id_reused_for_another_request_is_a_409(api: Api) -> None:
    publish({"action": "share", "points": 5}, {"action": "product_review", "points": 9})
    member_id = member(api, "reuser")
    moment = clock.utc_now()
    assert report(api, "x-1", member_id, at=moment).status_code == 201

    response = report(api, "x-1", member_id, "product_review", at=moment)

    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "idempotency_key_reused"
    assert response.json_body["error"]["fields"][0]["field"] == "action_id"


def test_two_pos_clients_own_separate_action_ids(api: Api) -> None:
    publish({"action": "share", "points": 5})
    member_id = member(api, "two-clients")
    assert report(api, "same", member_id).status_code == 201
    other = report(api, "same", member_id, client=("pos-2", POS_SECRETS["pos-2"]))

    assert other.status_code == 201
    assert other.json_body["balance"] == 10


# --- refusals ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["share", "bogus", "Share!"])
def test_an_action_without_a_rule_is_a_400_naming_action(api: Api, action: str) -> None:
    publish({"action": "product_review", "points": 5})
    member_id = member(api, "unknown")
    response = report(api, "u-1", member_id, action)

    assert response.status_code == 400, response.body
    assert response.json_body["error"]["fields"][0]["field"] == "action"
    assert action_entries(member_id) == []


@pytest.mark.parametrize("offset", [timedelta(hours=1), timedelta(days=-31)])
def test_at_out_of_bounds_is_a_400_naming_at(api: Api, offset: timedelta) -> None:
    publish({"action": "share", "points": 5})
    member_id = member(api, "timing")
    response = report(api, "t-1", member_id, at=clock.utc_now() + offset)

    assert response.status_code == 400, response.body
    assert response.json_body["error"]["fields"][0]["field"] == "at"


def test_an_unknown_member_is_a_404(api: Api) -> None:
    publish({"action": "share", "points": 5})
    assert report(api, "n-1", "m_nobody").status_code == 404


def test_an_unsigned_request_is_a_401(api: Api) -> None:
    publish({"action": "share", "points": 5})
    member_id = member(api, "unsigned")
    body = dumps(
        {"action_id": "s-1", "member": {"member_id": member_id}, "action": "share", "at": clock.iso(clock.utc_now())}
    )
    response = api.http.post(PATH, body=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 401
    assert action_entries(member_id) == []


def test_a_bad_signature_is_a_401(api: Api) -> None:
    publish({"action": "share", "points": 5})
    member_id = member(api, "forged")
    body = dumps(
        {"action_id": "f-1", "member": {"member_id": member_id}, "action": "share", "at": clock.iso(clock.utc_now())}
    )
    response = api.http.post(PATH, body=body, headers=pos_headers("POST", PATH, body, client=("pos-1", "wrong")))

    assert response.status_code == 401
    assert action_entries(member_id) == []


@pytest.mark.parametrize("role", ["member", "staff"])
def test_a_member_or_staff_token_is_a_401(api: Api, role: str) -> None:
    publish({"action": "share", "points": 5})
    token, member_id = api.login("token-holder")
    if role == "staff":
        token, _ = issue_token("s_1", "staff", clock.utc_now())
    body = dumps(
        {"action_id": "k-1", "member": {"member_id": member_id}, "action": "share", "at": clock.iso(clock.utc_now())}
    )
    response = api.http.post(PATH, body=body, headers=member_headers(token))

    assert response.status_code == 401
    assert action_entries(member_id) == []
