"""What a check-in (签到) costs: DynamoDB requests and transaction items per check-in, per
make-up (补签) and per calendar read, through the API as the mini-program calls it. The target:
a constant, whatever the member's history (the summary item, never the days, is read)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.domain.programme import Programme
from chalicelib.services import programme
from chalicelib.store import programme_repo
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row
from tests.support.api import SHANGHAI, Api, dumps, member_headers

pytestmark = pytest.mark.bench

MEMBERS = 10
DAYS = 20  # a history long enough that a cost growing with it would show
START = datetime(2026, 10, 1, 12, 0, tzinfo=SHANGHAI)


def _publish() -> None:
    document = programme.configured().model_dump(mode="json")
    document["checkin"] = {"makeup_cost_points": 10, "makeup_days": 3, "milestones": [{"day": 7, "points": 20}]}
    valid = Programme.model_validate(document, strict=False).model_dump(mode="json")
    programme_repo.publish(None, valid, "t", "bench", None)
    programme.forget()


def _post(api: Api, token: str, body: dict[str, Any]) -> None:
    response = api.http.post("/v1/me/checkins", body=dumps(body), headers=member_headers(token))
    assert response.status_code == 201, response.body


def _per(tally: Tally, calls: int) -> tuple[float, float]:
    return tally.total_requests / calls, tally.items_written / calls


def test_bench_check_in_make_up_and_calendar_costs(api: Api) -> None:
    _publish()
    first = Tally()
    for n in range(DAYS):
        clock.pin(START + timedelta(days=n))
        tokens = [api.login(f"bench{m}")[0] for m in range(MEMBERS)]
        if n == DAYS - 1:
            break  # the last day's check-ins and make-ups are measured below
        with count_dynamodb() as tally:
            for token in tokens:
                if n % 5 != 3:  # every fifth day missed, left to make up
                    _post(api, token, {})
        if n == 0:
            first = tally
    with count_dynamodb() as today:
        for token in tokens:
            _post(api, token, {})
    made_up_day = (START + timedelta(days=DAYS - 2)).date().isoformat()
    with count_dynamodb() as make_up:
        for token in tokens:
            _post(api, token, {"date": made_up_day})
    with count_dynamodb() as read:
        for token in tokens:
            assert api.http.get("/v1/me/checkins", headers=member_headers(token)).status_code == 200

    requests, items = _per(today, MEMBERS)
    row("check-in: DynamoDB requests (auth, member ×2, summary, transaction)", requests, "≤ 6",
        requests <= 6, requests_seen=today.as_dict())  # fmt: skip
    row("check-in: transaction items (member, lot, entry, day, summary)", items, "5", items == 5)
    first_requests, _ = _per(first, MEMBERS)
    row("check-in: requests on day 1 vs day 20 of a history", f"{first_requests:.1f} / {requests:.1f}",
        "the same", requests <= first_requests)  # fmt: skip
    requests, items = _per(make_up, MEMBERS)
    row("make-up (补签) costing more than it pays: DynamoDB requests (+ its lots)", requests, "≤ 7", requests <= 7,
        requests_seen=make_up.as_dict())  # fmt: skip
    row("make-up (补签): transaction items", items, "≤ 6", items <= 6)
    requests, _ = _per(read, MEMBERS)
    row("check-in calendar: DynamoDB requests (one Query, no Scan)", requests, "≤ 4",
        requests <= 4 and read.requests["Scan"] == 0, requests_seen=read.as_dict())  # fmt: skip
