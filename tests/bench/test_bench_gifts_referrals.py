"""What a points gift (积分转赠) and a referral (邀请有礼) cost, through the API: DynamoDB requests
and transaction items per gift, per invited login, and per phone binding that pays both sides.
The target: constants, whatever the members' histories (the lots are one query)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import clock
from chalicelib.services import member_codes
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row
from tests.support.api import Api, dumps, member_headers
from tests.support.programme import publish_with

pytestmark = pytest.mark.bench

RUNS = 10
JSON = {"Content-Type": "application/json"}


def _login(api: Api, name: str, invite_code: str | None = None) -> tuple[str, str]:
    body: dict[str, Any] = {"code": f"demo:{name}", **({"invite_code": invite_code} if invite_code else {})}
    response = api.http.post("/v1/auth/login", body=dumps(body), headers=JSON)
    assert response.status_code == 200, response.body
    return response.json_body["token"], response.json_body["member_id"]


def _per(tally: Tally) -> tuple[float, float]:
    return tally.total_requests / RUNS, tally.items_written / RUNS


def test_bench_gift_and_referral_costs(api: Api) -> None:
    publish_with("gift", {"enabled": True, "daily_limit_points": 100_000})
    token, giver = _login(api, "giver")
    assert api.order("bench-gift", {"member_id": giver}, 1_000_000).status_code == 200
    recipient_code = member_codes.code_of(_login(api, "taker")[1], clock.utc_now())
    with count_dynamodb() as gifts:
        for n in range(RUNS):
            body = dumps({"to_code": recipient_code, "points": 10})
            headers = member_headers(token, **{"Idempotency-Key": f"g{n}"})
            assert api.http.post("/v1/me/gifts", body=body, headers=headers).status_code == 201

    referrer_token, referrer = _login(api, "inviter")
    code = api.http.get("/v1/me/referrals", headers=member_headers(referrer_token)).json_body["code"]
    with count_dynamodb() as logins:
        invitees = [_login(api, f"friend{n}", code)[0] for n in range(RUNS)]
    with count_dynamodb() as phones:
        for n, invitee in enumerate(invitees):
            body = dumps({"code": f"phone:1390000{n:04d}"})
            assert api.http.post("/v1/me/phone", body=body, headers=member_headers(invitee)).status_code == 200

    requests, items = _per(gifts)
    row("points gift: DynamoDB requests (auth, replay, codes, both members twice, lots, counter, transaction)",
        requests, "≤ 12", requests <= 12, requests_seen=gifts.as_dict())  # fmt: skip
    row("points gift: items written (2 members, 2 entries, 2 lots, counter, 2 events; the giver's code once)",
        items, "≤ 9.5", items <= 9.5)  # fmt: skip
    requests, items = _per(logins)
    row("invited login (new member bound): DynamoDB requests", requests, "≤ 12", requests <= 12,
        requests_seen=logins.as_dict())  # fmt: skip
    requests, items = _per(phones)
    row("phone binding that pays both sides: DynamoDB requests", requests, "≤ 20", requests <= 20,
        requests_seen=phones.as_dict())  # fmt: skip
    row("phone binding that pays both sides: items written (the binding + one reward transaction)", items, "≤ 16",
        items <= 16)  # fmt: skip
