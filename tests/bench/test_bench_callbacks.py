"""What a WeChat callback costs: DynamoDB and SQS requests per callback, the time the handler
takes against WeChat's 5 s deadline (measured through the Chalice handler on the embedded moto,
beside a bare boto3 PutItem on the same server), and the crypto alone."""

from __future__ import annotations

import statistics
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

import boto3
import pytest

from chalicelib.clock import epoch_seconds
from chalicelib.notify import events
from chalicelib.settings import get_settings
from tests.bench.counting import count_dynamodb
from tests.bench.report import row
from tests.support.api import Api
from tests.support.wechat import XML_HEADERS, mp_event, mp_safe, mp_text

pytestmark = pytest.mark.bench

ROUNDS = 60


def post(api: Api, plain: str) -> Any:
    path, body = mp_safe(plain)
    response = api.http.post(path, body=body, headers=XML_HEADERS)
    assert response.status_code == 200, response.body
    return response


def sqs_sends(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = events.publish

    def counted(batch: Any, queue_name: str | None = None) -> int:
        made = real(batch, queue_name)
        calls[0] += made
        return made

    monkeypatch.setattr(events, "publish", counted)
    return calls


def test_bench_requests_per_callback(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    sends = sqs_sends(monkeypatch)
    plain = mp_event("mp_bench", "subscribe", create_time=int(epoch_seconds()))
    with count_dynamodb() as new_follower:
        post(api, plain)
    with count_dynamodb() as retry:
        post(api, plain)
    with count_dynamodb() as points:
        post(api, mp_text("mp_bench", "积分", msg_id=424242))
    row(
        "callback: subscribe, new follower (DynamoDB requests)",
        new_follower.total_requests,
        "<= 8",
        new_follower.total_requests <= 8,
        detail=new_follower.as_dict(),
    )
    # The user-info task goes to the outbox (counted among the DynamoDB requests), not to SQS.
    row("callback: subscribe, SQS calls on the callback path", sends[0], "0 (task in the outbox)", sends[0] == 0)
    row(
        "callback: retry of a handled callback (DynamoDB requests)",
        retry.total_requests,
        "<= 2",
        retry.total_requests <= 2,
        detail=retry.as_dict(),
    )
    row(
        "callback: points query '积分' (DynamoDB requests)",
        points.total_requests,
        "<= 6",
        points.total_requests <= 6,
        detail=points.as_dict(),
    )


def test_bench_callback_latency_against_wechats_deadline(api: Api) -> None:
    settings = get_settings()
    table = boto3.client("dynamodb", region_name=settings.region)
    name = settings.table_name("callbacks")
    bare: list[float] = []
    ours: list[float] = []
    stamp = int(epoch_seconds())
    for n in range(ROUNDS):
        started = time.perf_counter()
        table.put_item(
            TableName=name, Item={"dedup_key": {"S": f"bare-{n}"}, "status": {"S": "done"}, "claimed_at": {"N": "1"}}
        )
        bare.append(time.perf_counter() - started)
        started = time.perf_counter()
        post(api, mp_text(f"mp_lat{n % 5}", "积分", msg_id=900_000 + n, create_time=stamp))
        ours.append(time.perf_counter() - started)
    median, worst = statistics.median(ours) * 1000, max(ours) * 1000
    ratio = statistics.median(ours) / statistics.median(bare)
    row("callback: points query, median ms (embedded moto)", round(median, 1), "recorded", True)
    row("callback: points query, slowest of 60, ms", round(worst, 1), "< 1000 (WeChat: 5000)", worst < 1000)
    row("callback: points query / one bare boto3 PutItem", round(ratio, 1), "recorded", True)


def test_bench_crypto_per_callback() -> None:
    from chalicelib.wechat.callbacks import open_mp

    plain = mp_event("mp_crypto", "subscribe")
    path, body = mp_safe(plain)
    params = dict(parse_qsl(path.split("?", 1)[1]))
    settings = get_settings()
    now = int(epoch_seconds())
    started = time.perf_counter()
    for _ in range(200):
        opened = open_mp(params, body.encode(), settings, now)
        opened.seal("欢迎", now)
    per_call_us = (time.perf_counter() - started) / 200 * 1_000_000
    row("callback: verify + decrypt + parse + encrypted reply, µs", round(per_call_us), "recorded", True)


def test_bench_work_url_verification_within_its_one_second(api: Api) -> None:
    from tests.support.wechat import WORK_KEYS, signature, work_crypto

    stamp, nonce = str(int(epoch_seconds())), "42"
    encrypted = work_crypto().encrypt_message("1616140317555161061", nonce, stamp).split("<![CDATA[")[1].split("]]>")[0]
    query = urlencode(
        {
            "msg_signature": signature(WORK_KEYS.token, stamp, nonce, encrypted),
            "timestamp": stamp,
            "nonce": nonce,
            "echostr": encrypted,
        }
    )
    timings = []
    for _ in range(50):
        started = time.perf_counter()
        response = api.http.get(f"/wechat/work?{query}")
        timings.append(time.perf_counter() - started)
        assert response.body == b"1616140317555161061"
    worst = max(timings) * 1000
    row("callback: WeChat Work URL verification, slowest of 50, ms", round(worst, 1), "< 1000", worst < 1000)
