"""What the member card (会员卡) costs: DynamoDB requests and transaction items per card sync, the
WeChat calls it makes, the extra a card holder's points transaction carries (the trigger: one
read of the card, one outbox item), a redelivered sync, and the nightly check per card. The
target: constants, whatever the member's history."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests

from chalicelib import clock
from chalicelib.jobs import member_card as job
from chalicelib.services import member_card, points
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row
from tests.support.api import Api
from tests.support.wechat import XML_HEADERS, mp_event, mp_safe
from tests.support.worker import drain, run_worker

pytestmark = pytest.mark.bench
MEMBERS = 5
INDEX_QUERIES = 2 * 8  # two business days × the index's shards


def _holder(api: Api, name: str) -> str:
    _, member_id = api.login(name)
    path, body = mp_safe(
        mp_event(f"mp_{name}", "user_get_card", CardId="p_card", UserCardCode=f"B-{name}", UnionId=f"u_{name}")
    )
    assert api.http.post(path, body=body, headers=XML_HEADERS).status_code == 200
    return member_id


def _earn(member_id: str, key: str) -> None:
    points.earn(member_id, 10, points.operation(f"bench:{member_id}:{key}", {"k": key}, clock.utc_now()))


def _wechat_calls(url: str) -> int:
    return len(requests.get(url + "/_calls", timeout=5).json())


def _per(tally: Tally, calls: int) -> tuple[float, float]:
    return tally.total_requests / calls, tally.items_written / calls


def test_bench_card_sync_trigger_and_nightly_costs(api: Api, fake_wechat: str) -> None:
    holders = [_holder(api, f"cardb{m}") for m in range(MEMBERS)]
    plain = [api.login(f"plainb{m}")[1] for m in range(MEMBERS)]
    run_worker()  # activations (and the token fetch)
    for member_id in holders:  # a history: the figures must not grow with it
        for n in range(5):
            _earn(member_id, f"h{n}")
    run_worker()

    with count_dynamodb() as without_card:
        for member_id in plain:
            _earn(member_id, "m")
    with count_dynamodb() as with_card:
        for member_id in holders:
            _earn(member_id, "m")
    drain()
    before = _wechat_calls(fake_wechat)
    with count_dynamodb() as synced:
        for member_id in holders:
            member_card.sync(member_id, clock.utc_now())
    wechat = (_wechat_calls(fake_wechat) - before) / MEMBERS
    with count_dynamodb() as redelivered:
        for member_id in holders:
            member_card.sync(member_id, clock.utc_now())
    with count_dynamodb() as nightly:
        counts = job.run(clock.utc_now() + timedelta(days=1))
    assert counts["checked"] == MEMBERS and counts["matched"] == MEMBERS

    plain_requests, plain_items = _per(without_card, MEMBERS)
    card_requests, card_items = _per(with_card, MEMBERS)
    row("card trigger: extra DynamoDB requests per points change of a holder (every change reads the card once)",
        card_requests - plain_requests, "0", card_requests == plain_requests,
        requests_seen=with_card.as_dict(), without_card=without_card.as_dict())  # fmt: skip
    row("card trigger: extra transaction items per points change (the sync task, outbox)",
        card_items - plain_items, "1", card_items - plain_items == 1)  # fmt: skip
    requests_, items = _per(synced, MEMBERS)
    row("card sync: DynamoDB requests (card, member, wallet, record)", requests_, "≤ 4", requests_ <= 4,
        requests_seen=synced.as_dict())  # fmt: skip
    row("card sync: transaction items (the card record)", items, "1", items == 1)
    row("card sync: WeChat calls (updateuser)", wechat, "1", wechat == 1)
    again, again_items = _per(redelivered, MEMBERS)
    row("card sync redelivered: DynamoDB requests, no WeChat call", again, "≤ 3", again <= 3 and again_items == 0)
    per_card = (nightly.total_requests - INDEX_QUERIES) / MEMBERS
    row("nightly card check: DynamoDB requests per changed card (+ 16 index queries a night)", round(per_card, 2),
        "≤ 3", per_card <= 3, requests_seen=nightly.as_dict())  # fmt: skip
