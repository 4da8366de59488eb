"""Daily check-in (签到) through the API: once per Shanghai day, streaks and their resets,
milestones instead of the base, make-ups (补签) that cost points, the calendar, and nobody
reaching another member's days."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.domain import ledger as kinds
from chalicelib.domain.programme import Programme
from chalicelib.services import programme
from chalicelib.services.reconcile import reconcile
from chalicelib.store import points_repo, programme_repo
from chalicelib.store.models import CheckinModel, MemberModel
from tests.support.api import SHANGHAI, Api, dumps, member_headers

NOON = datetime(2026, 11, 18, 12, 0, tzinfo=SHANGHAI)  # a Wednesday


def publish(**checkin: Any) -> None:
    document = programme.configured().model_dump(mode="json")
    document["checkin"] = {**document["checkin"], **checkin}
    valid = Programme.model_validate(document, strict=False).model_dump(mode="json")
    programme_repo.publish(programme_repo.current_version(), valid, "t", "tests", None)
    programme.forget()


def at(api: Api, name: str, moment: datetime) -> str:
    """The clock at `moment`, and the member's token there (a token lives two hours)."""
    clock.pin(moment)
    return api.login(name)[0]


def check_in(api: Api, token: str, day: date | None = None, key: str | None = None, **body: Any) -> Any:
    payload = {**body, **({"date": day.isoformat()} if day else {})}
    headers = member_headers(token, **({"Idempotency-Key": key} if key else {}))
    return api.http.post("/v1/me/checkins", body=dumps(payload), headers=headers)


def calendar(api: Api, token: str, month: str | None = None) -> Any:
    path = "/v1/me/checkins" + (f"?month={month}" if month else "")
    return api.http.get(path, headers=member_headers(token))


def on_days(api: Api, name: str, *days: date) -> Any:
    """Checks in at noon on each day; the last answer."""
    response = None
    for day in days:
        response = check_in(api, at(api, name, datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI)))
        assert response.status_code == 201, response.body
    return response


def entries(member_id: str, kind: str = kinds.CHECKIN) -> list[Any]:
    return list(points_repo.iter_member_entries(member_id, kind=kind))


def day(n: int) -> date:
    return date(2026, 11, n)


# --- once a day, by the Shanghai calendar ------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (datetime(2026, 11, 22, 23, 59, 50, tzinfo=SHANGHAI), datetime(2026, 11, 23, 0, 0, 10, tzinfo=SHANGHAI)),
        (datetime(2026, 11, 22, 15, 59, tzinfo=UTC), datetime(2026, 11, 22, 16, 1, tzinfo=UTC)),
    ],
    ids=["shanghai-midnight", "utc-16h"],
)
def test_check_ins_either_side_of_shanghai_midnight_are_two_days(api: Api, first: datetime, second: datetime) -> None:
    before = check_in(api, at(api, "mid", first))
    after = check_in(api, at(api, "mid", second))

    assert (before.status_code, after.status_code) == (201, 201), (before.body, after.body)
    assert (before.json_body["date"], after.json_body["date"]) == ("2026-11-22", "2026-11-23")
    assert after.json_body["status"]["streak"] == 2 and after.json_body["balance"] == 10


def test_utc_dates_apart_but_one_shanghai_day_is_one_check_in(api: Api) -> None:
    morning = check_in(api, at(api, "one", datetime(2026, 11, 21, 16, 1, tzinfo=UTC)))  # 00:01 on the 22nd
    evening = check_in(api, at(api, "one", datetime(2026, 11, 22, 15, 59, tzinfo=UTC)))  # 23:59 on the 22nd

    assert morning.status_code == 201 and morning.json_body["date"] == "2026-11-22"
    assert evening.status_code == 409 and evening.json_body["error"]["code"] == "already_checked_in"


def test_checking_in_twice_a_day_is_409_in_chinese_and_pays_once(api: Api) -> None:
    token = at(api, "twice", NOON)
    _, member_id = api.login("twice")
    assert check_in(api, token).status_code == 201

    again = check_in(api, token)

    assert again.status_code == 409
    assert again.json_body["error"] == {
        "code": "already_checked_in",
        "message": "今天已经签到过了，明天再来吧",
        "fields": [],
    }
    assert len(entries(member_id)) == 1 and MemberModel.get(member_id).balance == 5
    assert check_in(api, token, day=NOON.date()).status_code == 409, "today's date is today's check-in"


def test_an_idempotency_key_replays_the_first_answer_and_another_key_is_409(api: Api) -> None:
    token = at(api, "retry", NOON)
    first = check_in(api, token, key="ck-1")

    replay = check_in(api, token, key="ck-1")
    other = check_in(api, token, key="ck-2")

    assert first.status_code == replay.status_code == 201
    assert replay.json_body == first.json_body
    assert other.status_code == 409 and other.json_body["error"]["code"] == "already_checked_in"


def test_the_check_in_is_in_the_members_points_history(api: Api) -> None:
    token = at(api, "hist", NOON)
    assert check_in(api, token).status_code == 201

    ledger = api.http.get("/v1/me/points/ledger", headers=member_headers(token))

    assert ledger.status_code == 200, ledger.body
    assert [(i["kind"], i["points"], i["reason"]) for i in ledger.json_body["items"]] == [("checkin", 5, "2026-11-18")]


# --- streaks, resets and milestones --------------------------------------------------------------------


def test_a_missed_day_breaks_the_streak(api: Api) -> None:
    on_days(api, "gap", day(16), day(17))
    last = on_days(api, "gap", day(19))

    assert last.json_body["status"]["streak"] == 1 and last.json_body["status"]["total"] == 3


def test_the_streak_milestone_day_pays_instead_of_the_base(api: Api) -> None:
    publish(base_points=5, milestones=[{"day": 3, "points": 20}])

    answers = [on_days(api, "run", day(n)).json_body for n in (16, 17, 18, 19)]

    assert [a["points"] for a in answers] == [5, 5, 20, 5]
    assert answers[2]["milestones"] == [{"kind": "streak", "day": 3, "points": 20}]
    _, member_id = api.login("run")
    assert sum(e.delta for e in entries(member_id)) == 35 == MemberModel.get(member_id).balance


def test_weekly_reset_starts_again_on_monday(api: Api) -> None:
    publish(reset="weekly", milestones=[{"day": 2, "points": 12}])

    saturday, sunday, monday = (on_days(api, "week", day(n)).json_body for n in (21, 22, 23))

    assert [saturday["points"], sunday["points"], monday["points"]] == [5, 12, 5]
    assert monday["status"]["streak"] == 1 and monday["status"]["cumulative"] == 1
    assert monday["status"]["total"] == 3


def test_monthly_reset_and_the_cumulative_milestone(api: Api) -> None:
    publish(reset="monthly", milestones=[{"day": 3, "points": 30, "kind": "cumulative"}])
    on_days(api, "month", day(27), day(29))

    third = on_days(api, "month", day(30)).json_body
    december = on_days(api, "month", date(2026, 12, 1)).json_body

    assert third["points"] == 30 and third["status"]["cumulative"] == 3
    assert december["points"] == 5
    assert (december["status"]["cumulative"], december["status"]["streak"]) == (1, 1)


def test_a_streak_and_a_cumulative_milestone_on_one_day_pay_their_sum(api: Api) -> None:
    publish(milestones=[{"day": 2, "points": 10}, {"day": 2, "points": 7, "kind": "cumulative"}])

    second = on_days(api, "both", day(16), day(17)).json_body

    assert second["points"] == 17 and len(second["milestones"]) == 2


def test_disabled_check_in_is_403_and_the_calendar_says_so(api: Api) -> None:
    publish(enabled=False)
    token = at(api, "off", NOON)

    refused = check_in(api, token)

    assert refused.status_code == 403 and refused.json_body["error"]["code"] == "checkin_disabled"
    shown = calendar(api, token).json_body
    assert shown["enabled"] is False and shown["status"]["next_milestone"] is None


# --- make-ups (补签) --------------------------------------------------------------------------------


def _funded(api: Api, name: str, points: int) -> str:
    _, member_id = api.login(name)
    assert api.adjust(member_id, points, f"fund-{name}").status_code == 201
    return member_id


def test_a_make_up_costs_points_in_the_same_entry_and_mends_the_streak(api: Api) -> None:
    publish(base_points=5, makeup_cost_points=20, makeup_days=3)
    on_days(api, "mend", day(16), day(17))
    token = at(api, "mend", NOON.replace(day=19))
    member_id = _funded(api, "mend", 100)
    assert check_in(api, token).json_body["status"]["streak"] == 1

    made_up = check_in(api, token, day=day(18))

    assert made_up.status_code == 201, made_up.body
    body = made_up.json_body
    assert (body["date"], body["made_up"], body["points"], body["cost_points"]) == ("2026-11-18", True, 5, 20)
    assert body["status"]["streak"] == 4 and body["balance"] == 10 + 100 + 5 - 15
    [entry] = entries(member_id, kinds.CHECKIN_MAKEUP)
    assert (entry.delta, entry.detail["earned"], entry.detail["cost"]) == (-15, 5, 20)
    assert list(reconcile([member_id])) == []


def test_a_make_up_pays_the_milestone_the_missed_day_would_have(api: Api) -> None:
    publish(makeup_cost_points=10, milestones=[{"day": 3, "points": 50}])
    on_days(api, "seven", day(16), day(17))
    token = at(api, "seven", NOON.replace(day=19))
    _funded(api, "seven", 10)
    assert check_in(api, token).json_body["points"] == 5

    made_up = check_in(api, token, day=day(18)).json_body
    next_day = on_days(api, "seven", day(20)).json_body

    assert made_up["points"] == 50 and made_up["milestones"][0]["day"] == 3
    assert next_day["points"] == 5 and next_day["status"]["streak"] == 5


@pytest.mark.parametrize(
    ("wanted", "status", "code"),
    [
        (day(15), 400, "makeup_out_of_range"),
        (day(20), 400, "checkin_future_day"),
        (day(17), 409, "makeup_day_checked"),
    ],
    ids=["beyond-makeup-days", "future", "already-checked"],
)
def test_a_make_up_outside_the_rules_is_refused_naming_the_date(api: Api, wanted: date, status: int, code: str) -> None:
    publish(makeup_cost_points=1, makeup_days=3)
    on_days(api, "rule", day(17))
    token = at(api, "rule", NOON.replace(day=19))
    member_id = _funded(api, "rule", 50)
    balance = MemberModel.get(member_id).balance

    refused = check_in(api, token, day=wanted)

    assert refused.status_code == status, refused.body
    error = refused.json_body["error"]
    assert error["code"] == code and error["fields"][0]["field"] == "date"
    assert MemberModel.get(member_id).balance == balance and entries(member_id, kinds.CHECKIN_MAKEUP) == []


def test_a_make_up_without_enough_points_is_409_and_writes_nothing(api: Api) -> None:
    publish(makeup_cost_points=30)
    on_days(api, "poor", day(16))  # registered on the 16th, 5 points
    token = at(api, "poor", NOON)
    _, member_id = api.login("poor")

    refused = check_in(api, token, day=day(17))

    assert refused.status_code == 409
    assert refused.json_body["error"]["code"] == "makeup_insufficient_points"
    assert refused.json_body["error"]["message"] == "积分不足，无法补签"
    assert MemberModel.get(member_id).balance == 5
    assert [item.day for item in CheckinModel.query(member_id)] == ["2026-11-16", "state"]


def test_a_make_up_is_refused_when_not_offered_and_before_registration(api: Api) -> None:
    token = at(api, "fresh", NOON)
    assert check_in(api, token, day=day(17)).json_body["error"]["code"] == "makeup_disabled"
    publish(makeup_cost_points=1)

    before = check_in(api, token, day=day(17))

    assert before.status_code == 400 and before.json_body["error"]["code"] == "makeup_out_of_range"


# --- the calendar --------------------------------------------------------------------------------------


def test_the_calendar_shows_the_month_streak_count_and_next_milestone(api: Api) -> None:
    publish(makeup_cost_points=10, makeup_days=3, milestones=[{"day": 5, "points": 40}])
    on_days(api, "cal", date(2026, 10, 31), day(1), day(3))
    token = at(api, "cal", NOON.replace(day=4))
    _funded(api, "cal", 20)
    assert check_in(api, token, day=day(2)).status_code == 201

    november = calendar(api, token).json_body
    october = calendar(api, token, "2026-10").json_body

    assert november["month"] == "2026-11" and november["enabled"] is True
    assert [(d["date"], d["made_up"], d["points"]) for d in november["days"]] == [
        ("2026-11-01", False, 5),
        ("2026-11-02", True, 5),
        ("2026-11-03", False, 5),
    ]
    status = november["status"]
    assert (status["today"], status["checked_in_today"], status["streak"], status["total"]) == (
        "2026-11-04", False, 4, 4,
    )  # fmt: skip
    assert status["next_reward_points"] == 40
    assert status["next_milestone"] == {"kind": "streak", "day": 5, "points": 40, "checkins_to_go": 1,
                                        "on": "2026-11-04"}  # fmt: skip
    assert status["makeup"] == {"cost_points": 10, "days_back": 3, "open_days": []}
    assert [d["date"] for d in october["days"]] == ["2026-10-31"]
    assert calendar(api, token, "2027-01").json_body["days"] == []


@pytest.mark.parametrize("month", ["2026-13", "26-11", "2026-1", "0000-01", "x" * 300])
def test_a_bad_month_is_400_naming_it(api: Api, month: str) -> None:
    response = calendar(api, at(api, "badm", NOON), month)

    assert response.status_code == 400
    assert [f["field"] for f in response.json_body["error"]["fields"]] == ["month"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"date": "2026-11-31"}', "date"),
        (b'{"date": 20261118}', "date"),
        (b'{"member_id": "m_other"}', "member_id"),
        (b"[]", "body"),
    ],
    ids=["no-such-day", "not-a-string", "someone-else", "not-an-object"],
)
def test_a_bad_body_is_400_naming_the_field(api: Api, body: bytes, field: str) -> None:
    token = at(api, "badb", NOON)

    response = api.http.post("/v1/me/checkins", body=body, headers=member_headers(token))

    assert response.status_code == 400, response.body
    assert field in [f["field"] for f in response.json_body["error"]["fields"]]


def test_a_member_never_sees_nor_blocks_another_members_days(api: Api) -> None:
    on_days(api, "ann", day(16), day(17), day(18))
    token = at(api, "ben", NOON)
    _, ann_id = api.login("ann")

    mine = calendar(api, token).json_body
    checked = check_in(api, token)

    assert mine["days"] == [] and mine["status"]["total"] == 0
    assert checked.status_code == 201 and checked.json_body["status"]["streak"] == 1
    assert calendar(api, token).json_body["status"]["total"] == 1
    assert len(entries(ann_id)) == 3, "ann's days untouched"
    assert check_in(api, "not-a-token").status_code == 401
    assert api.http.get("/v1/me/checkins").status_code == 401


def test_the_calendar_is_one_query_on_the_members_partition(api: Api) -> None:
    from tests.bench.counting import count_dynamodb

    token = at(api, "q", NOON)
    with count_dynamodb() as tally:
        assert calendar(api, token).status_code == 200

    assert tally.requests["Scan"] == 0 and tally.requests["Query"] == 1, tally.as_dict()


def test_closing_the_account_keeps_its_days_anonymous_and_its_token_checks_in_no_more(api: Api) -> None:
    token = at(api, "leaver", NOON)
    _, member_id = api.login("leaver")
    assert check_in(api, token).status_code == 201

    assert api.http.post("/v1/me/deletion", headers=member_headers(token)).status_code == 200

    assert check_in(api, token).status_code == 401 and calendar(api, token).status_code == 401
    kept = [item.day for item in CheckinModel.query(member_id)]
    assert kept == ["2026-11-18", "state"], "kept under the anonymous id, like the ledger"


@pytest.mark.parametrize("extreme", [date.min, date.max], ids=["year-1", "year-9999"])
def test_a_make_up_at_the_ends_of_the_calendar_is_400_not_a_crash(api: Api, extreme: date) -> None:
    publish(makeup_cost_points=1)

    response = check_in(api, at(api, "ends", NOON), day=extreme)

    assert response.status_code == 400, response.body
    assert response.json_body["error"]["fields"][0]["field"] == "date"


def test_a_check_in_needs_no_body(api: Api) -> None:
    token, _ = api.login("nobody-body")

    response = api.http.post("/v1/me/checkins", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 201, response.body
