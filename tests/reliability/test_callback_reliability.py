"""WeChat callbacks under WeChat's own behaviour: concurrent retries, a handler dying half-way,
DynamoDB and SQS failing, and a seeded fuzz of signed, encrypted XML."""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.clock import epoch_seconds
from chalicelib.domain.callbacks import Inbound
from chalicelib.notify import consumer, events
from chalicelib.store import callbacks_repo, members_repo
from chalicelib.store.models import CallbackModel, IdentityModel
from tests.support.api import Api
from tests.support.faults import Injector, client_error, inject
from tests.support.wechat import (
    MP_ACCOUNT,
    XML_HEADERS,
    contact_change,
    mp_event,
    mp_safe,
    mp_text,
    read_mp_reply,
    work_post,
    xml,
)
from tests.support.worker import drain, relay, run_worker

FUZZ = settings(
    max_examples=400 if os.environ.get("WXM_SOAK") else 40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def post(api: Api, plain: str) -> Any:
    path, body = mp_safe(plain)
    return api.http.post(path, body=body, headers=XML_HEADERS)


def members_with(alias: str) -> set[str]:
    return {item.member_id for item in IdentityModel.scan() if item.alias == alias}


def test_concurrent_retries_of_one_subscribe_have_one_effect(api: Api) -> None:
    plain = mp_event("mp_rush", "subscribe", create_time=int(epoch_seconds()))
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(lambda _: post(api, plain), range(3)))

    assert {response.status_code for response in answers} == {200}
    replies = {read_mp_reply(response.body.decode()).get("Content") for response in answers} - {None}
    assert len(replies) == 1, "every retry that got a reply got the same one"
    assert len(members_with("mp:mp_rush")) == 1
    assert [body["kind"] for body in drain()] == ["task.mp_user_sync"]


def test_concurrent_first_contact_from_two_channels_makes_one_member(api: Api) -> None:
    """The official-account follow and the mini-program login race; the unionid sync joins them."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        follow = pool.submit(post, api, mp_event("mp_duo", "subscribe"))
        login = pool.submit(api.login, "duo")
        assert follow.result().status_code == 200
        _, member_id = login.result()
    run_worker()
    owners = members_repo.find_member_ids(["mp:mp_duo", "mini:o_duo", "union:u_duo"])
    assert {members_repo.get_live_member(m).member_id for m in owners.values()} == {member_id}


def test_handler_that_died_is_taken_over_once_its_claim_is_stale(api: Api) -> None:
    stamp = int(epoch_seconds())
    key = Inbound("mp", "event", "subscribe", "mp_phoenix", MP_ACCOUNT, stamp).dedup_key()
    assert callbacks_repo.claim(key, stamp - 60, 6, timedelta(days=1)) is None  # its handler died a minute ago

    response = post(api, mp_event("mp_phoenix", "subscribe", create_time=stamp))

    assert "会员中心" in read_mp_reply(response.body.decode())["Content"]
    assert CallbackModel.get(key).status == "done" and len(members_with("mp:mp_phoenix")) == 1


def test_retry_while_the_first_handler_still_runs_answers_success_and_does_nothing(api: Api) -> None:
    stamp = int(epoch_seconds())
    key = Inbound("mp", "event", "subscribe", "mp_slow", MP_ACCOUNT, stamp).dedup_key()
    assert callbacks_repo.claim(key, stamp, 6, timedelta(days=1)) is None  # a handler still at work

    response = post(api, mp_event("mp_slow", "subscribe", create_time=stamp))

    assert (response.status_code, response.body) == (200, b"success")
    assert members_with("mp:mp_slow") == set()


def test_store_failure_mid_callback_answers_503_and_the_retry_finishes_the_work(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = mp_event("mp_fragile", "subscribe", create_time=int(epoch_seconds()), EventKey="qrscene_store_S9")
    failing = Injector("UpdateItem", lambda kw: client_error("InternalServerError", "UpdateItem"), times=None)
    with inject(monkeypatch, failing):
        first = post(api, plain)
    assert first.status_code == 503 and first.json_body["error"]["code"] == "busy"
    assert sum(1 for _ in CallbackModel.scan()) == 0, "the claim is released, so WeChat's retry runs it again"

    retry = post(api, plain)

    assert retry.status_code == 200
    member = members_repo.get_live_member(next(iter(members_with("mp:mp_fragile"))))
    assert member.mp_followed is True
    assert len(members_with("mp:mp_fragile")) == 1


def test_queue_outage_does_not_fail_the_callback_and_the_task_is_queued_once_sqs_is_back(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = mp_event("mp_noqueue", "subscribe", create_time=int(epoch_seconds()))
    real = events.sqs_client()

    class Down:
        def __getattr__(self, name: str) -> Any:
            if name == "send_message_batch":
                raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1/sqs")
            return getattr(real, name)

    monkeypatch.setattr(events, "sqs_client", lambda: Down())
    assert post(api, plain).status_code == 200, "the task waits in the outbox"
    assert relay() == 0, "the relay keeps its place while SQS is down"
    monkeypatch.setattr(events, "sqs_client", lambda: real)

    assert post(api, plain).status_code == 200  # WeChat's retry: the recorded reply, nothing more
    assert [body["kind"] for body in drain()] == ["task.mp_user_sync"]


def test_redelivered_contact_sync_changes_nothing_more(api: Api) -> None:
    path, body = work_post(contact_change("add_external_contact", "wm_twice"))
    api.http.post(path, body=body, headers=XML_HEADERS)
    tasks = drain()
    for _ in range(3):  # SQS at-least-once
        consumer.handle_record(json.dumps(tasks[0]))
    assert len(members_with("work:wm_twice")) == 1
    follow_ups = [body["event_id"] for body in drain()]
    assert len(follow_ups) == 3 * 2 and len(set(follow_ups)) == 2, "same event ids: the sender sends each once"


field_names = st.sampled_from(
    ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Event", "EventKey", "Content", "MsgId", "UserCardCode"]
)
field_values = st.one_of(
    st.text(max_size=30),
    st.integers(-(2**40), 2**70),
    st.sampled_from(["event", "text", "subscribe", "unsubscribe", "SCAN", "CLICK", "MY_POINTS", "积分", "qrscene_"]),
)


@FUZZ
@given(fields=st.dictionaries(field_names, field_values, max_size=8))
def test_fuzzed_signed_messages_never_get_a_5xx(api: Api, fields: dict[str, Any]) -> None:
    clean = {name: value if isinstance(value, int) else _cdata_safe(value) for name, value in fields.items()}
    response = post(api, xml(clean))
    assert response.status_code in (200, 400), (clean, response.status_code, response.body)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_fuzzed_raw_bodies_are_refused_cleanly(api: Api, raw: bytes) -> None:
    path, _ = mp_safe(mp_text("mp_f", "x", msg_id=1))
    response = api.http.post(path, body=raw, headers=XML_HEADERS)
    assert response.status_code in (400, 403), (raw, response.status_code)


def _cdata_safe(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and c != "]")
