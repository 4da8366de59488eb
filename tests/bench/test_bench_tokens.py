"""What the shared access_token costs per WeChat call: token fetches and DynamoDB requests.

Choice measured here: each process keeps its copy of the token for up to 60 s
(`tokens.LOCAL_SECONDS`) in front of DynamoDB, so a warm call costs no DynamoDB request at all;
a new container pays one GetItem, a cold app one fetch and four requests (two reads, lease,
write). The price of the copy is bounded: after another container force-refreshes the token,
this one learns it by one rejected WeChat call and one GetItem, with no fetch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from chalicelib.settings import get_settings
from chalicelib.wechat import clients
from tests.bench.counting import count_dynamodb
from tests.bench.report import row

pytestmark = pytest.mark.bench

CALLS = 200
PHONE_URL = clients.API_ROOT["mini"] + "wxa/business/getuserphonenumber"


@pytest.fixture
def fake(tables: None, fake_wechat: str) -> Iterator[str]:
    requests.post(f"{fake_wechat}/_reset", timeout=5).raise_for_status()
    get_settings.cache_clear()
    clients.reset_clients()
    yield fake_wechat
    clients.reset_clients()


def fetches(url: str) -> int:
    return sum(1 for c in requests.get(f"{url}/_calls", timeout=5).json() if c["path"] == "/cgi-bin/stable_token")


def phone(client: Any) -> None:
    clients.call("mini", lambda c: c.post(PHONE_URL, data={"code": "phone:138"}), client=client)


def test_bench_token_cost_per_wechat_call(fake: str) -> None:
    client = clients.build_client("mini")
    with count_dynamodb() as cold:
        phone(client)
    cold_fetches = fetches(fake)

    started = time.perf_counter()
    with count_dynamodb() as warm:
        for _ in range(CALLS):
            phone(client)
    per_call_ms = (time.perf_counter() - started) * 1000 / CALLS
    warm_fetches = fetches(fake) - cold_fetches

    with count_dynamodb() as new_container:
        phone(clients.build_client("mini"))

    requests.post(f"{fake}/_invalidate_tokens", json={}, timeout=5).raise_for_status()
    before = fetches(fake)
    with count_dynamodb() as rejected:
        phone(client)

    row("token: warm calls, fetches", warm_fetches, "0", warm_fetches == 0, calls=CALLS)
    row(
        "token: warm calls, DynamoDB requests/call",
        warm.total_requests / CALLS,
        "0 (60 s local copy)",
        warm.total_requests == 0,
        ms_per_call=round(per_call_ms, 2),
    )
    row(
        "token: new container, DynamoDB requests",
        new_container.total_requests,
        "1 GetItem",
        new_container.total_requests == 1,
    )
    row("token: cold app, fetches", cold_fetches, "1", cold_fetches == 1, dynamodb=cold.as_dict())
    row(
        "token: rejected token, fetches",
        fetches(fake) - before,
        "1",
        fetches(fake) - before == 1,
        dynamodb=rejected.as_dict(),
    )
    assert warm_fetches == 0 and cold_fetches == 1
