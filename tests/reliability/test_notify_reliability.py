"""Notifications under redelivery, concurrency, partial failures, DynamoDB faults and fuzzed input."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.tasks import RetryLater
from chalicelib.notify import consumer, delivery, sender
from chalicelib.store import notify_repo
from chalicelib.store.models import CampaignModel, ConsentModel, MemberModel
from tests.support.api import Api, dumps, member_headers
from tests.support.faults import Injector, client_error, inject
from tests.support.notify import asks_for_retry, fail_next, reset_fake_wechat, sent_messages

TEMPLATE = "tmpl_points_expiring"
SUBSCRIBE = "/cgi-bin/message/subscribe/send"


@pytest.fixture
def wechat(fake_wechat: str) -> str:
    return reset_fake_wechat(fake_wechat)


def _member(member_id: str, *, mini: bool = True, mp: bool = False, consents: int = 0) -> str:
    item = MemberModel(member_id, created_at="2026-01-01T00:00:00Z", tier_code="normal")
    item.mini_openid = f"o_{member_id}" if mini else None
    item.mp_openid, item.mp_followed = (f"mp_{member_id}", True) if mp else (None, None)
    item.save()
    if consents:
        ConsentModel(member_id, TEMPLATE, remaining=consents).save()
    return member_id


def _event(member_id: str, event_id: str) -> DomainEvent:
    data = {"points": 50, "expires_on": "2026-12-31"}
    return DomainEvent(event_id, "points.expiring", member_id, "2026-11-24T02:00:00Z", data)


def _records(events: list[DomainEvent]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"msg-{n}",
                "receiptHandle": f"r-{n}",
                "body": event.to_json(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            }
            for n, event in enumerate(events)
        ]
    }


@pytest.mark.parametrize("channel", ["mini", "mp"])
def test_concurrent_redeliveries_of_one_event_send_one_message(tables: None, wechat: str, channel: str) -> None:
    member_id = _member("m_dup", mini=channel == "mini", mp=channel == "mp", consents=5 if channel == "mini" else 0)
    batch = _records([_event(member_id, "dup-1")])

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: consumer.handle_batch(batch), range(16)))
    # A copy that met another in flight was handed back to SQS; it comes back and finds it done.
    assert all(result["batchItemFailures"] in ([], [{"itemIdentifier": "msg-0"}]) for result in results)
    assert consumer.handle_batch(batch) == {"batchItemFailures": []}

    assert len(sent_messages(wechat)) == 1
    if channel == "mini":
        assert notify_repo.consents(member_id) == {TEMPLATE: 4}


def test_partial_batch_failure_reports_only_the_rate_limited_record(tables: None, wechat: str) -> None:
    members = [_member(f"m_p{n}", consents=1) for n in range(4)] + [_member("m_follower", mini=False, mp=True)]
    events = [_event(member_id, f"batch-{member_id}") for member_id in members]
    fail_next(wechat, "/cgi-bin/message/template/send", errcode=45047)

    first = consumer.handle_batch(_records(events))
    again = consumer.handle_batch(_records(events))  # SQS redelivers; pretend it all came back

    assert first == {"batchItemFailures": [{"itemIdentifier": "msg-4"}]}
    assert again == {"batchItemFailures": []}
    assert sorted(s["body"]["touser"] for s in sent_messages(wechat)) == ["mp_m_follower"] + [
        f"o_m_p{n}" for n in range(4)
    ]


def test_consents_never_go_negative_under_concurrent_sends_and_rate_limits(tables: None, wechat: str) -> None:
    member_id = _member("m_scarce", consents=3)
    fail_next(wechat, SUBSCRIBE, errcode=45009, times=4)
    pending = [_event(member_id, f"scarce-{n}") for n in range(20)]
    seen_negative = threading.Event()

    def watch() -> None:
        while pending:
            if any(v < 0 for v in notify_repo.consents(member_id).values()):
                seen_negative.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    for _round in range(6):
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(asks_for_retry, pending))
        pending = [event for event, retry in zip(pending, outcomes, strict=True) if retry]
        if not pending:
            break
    watcher.join()

    assert pending == [] and not seen_negative.is_set()
    assert len(sent_messages(wechat)) == 3
    assert notify_repo.consents(member_id) == {TEMPLATE: 0}


class _OnDeliveries(Injector):
    """Fails only the calls on the deliveries table (recording an outcome), not consents."""

    def __call__(self, operation: str, kwargs: dict[str, Any]) -> Exception | None:
        if not str(kwargs.get("TableName", "")).endswith("deliveries"):
            return None
        return super().__call__(operation, kwargs)


def test_crash_between_send_and_finalise_never_resends_a_subscribe_message(
    tables: None, wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    member_id = _member("m_crash", consents=2)
    rule = _OnDeliveries("UpdateItem", lambda _kw: client_error("AccessDeniedException", "UpdateItem"), 1)

    with inject(monkeypatch, rule), pytest.raises(Exception, match="AccessDenied"):
        sender.deliver(_event(member_id, "crash-1"))  # sent, but the outcome is not recorded
    with pytest.raises(RetryLater):
        sender.deliver(_event(member_id, "crash-1"))  # an early redelivery finds the claim: later
    monkeypatch.setattr(delivery, "STALE_CLAIM", timedelta(0))  # SQS redelivers after the visibility timeout
    sender.deliver(_event(member_id, "crash-1"))

    assert len(sent_messages(wechat)) == 1
    assert notify_repo.consents(member_id) == {TEMPLATE: 1}
    assert notify_repo.get_delivery("crash-1#member")["status"] == "failed"  # type: ignore[index]  # unconfirmed


def test_dynamodb_outage_before_sending_leaves_the_event_to_retry(
    tables: None, wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    member_id = _member("m_outage", consents=1)
    rule = Injector("UpdateItem", lambda _kw: client_error("InternalServerError", "UpdateItem"), 1)

    with inject(monkeypatch, rule):  # taking the consent fails: nothing is sent, the claim is released
        result = consumer.handle_batch(_records([_event(member_id, "outage-1")]))
    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    consumer.handle_batch(_records([_event(member_id, "outage-1")]))

    assert len(sent_messages(wechat)) == 1
    assert notify_repo.consents(member_id) == {TEMPLATE: 0}


@pytest.mark.parametrize("code", ["TransactionInProgressException", "ThrottlingException"])
def test_campaign_counts_stay_exact_when_the_counting_transaction_is_contended(
    tables: None, wechat: str, monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    member_id = _member("m_counted", mini=False, mp=True)
    CampaignModel(
        "cmp_1",
        name="x",
        template="campaign.member_day",
        audience={},
        send_at="2026-01-01T00:00:00Z",
        status="queued",
        created_by="alice",
        created_at="2026-01-01T00:00:00Z",
        fingerprint="f",
        queued=1,
    ).save()
    event = DomainEvent(
        "campaign:cmp_1:m_counted",
        "campaign.message",
        member_id,
        "2026-12-15T02:00:00Z",
        {"campaign_id": "cmp_1", "template": "campaign.member_day"},
    )
    # Every delivery of a campaign counts on the campaign item: contention is expected.
    rule = Injector("TransactWriteItems", lambda _kw: client_error(code, "TransactWriteItems"), 3)

    with inject(monkeypatch, rule):
        sender.deliver(event)
    sender.deliver(event)

    campaign = CampaignModel.get("cmp_1")
    assert (campaign.sent, campaign.failed, campaign.skipped) == (1, 0, 0)
    assert rule.injected == 3 and len(sent_messages(wechat)) == 1


choices = st.sampled_from(["accept", "reject", "ban", "filter", "ACCEPT", "", "yes"])
template_ids = st.one_of(st.sampled_from([TEMPLATE, "tmpl_birthday", "tmpl_member_day"]), st.text(max_size=20))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10))
bodies = st.one_of(
    st.fixed_dictionaries({"results": st.dictionaries(template_ids, st.one_of(choices, json_scalars), max_size=25)}),
    st.dictionaries(st.text(max_size=8), json_scalars, max_size=3),
    json_scalars,
    st.fixed_dictionaries({"results": json_scalars}),
)


def test_fuzzed_subscription_reports_never_fail_and_never_overcount(api: Api) -> None:
    token, member_id = api.login("fuzzed")
    accepted = {"total": 0}

    @settings(
        max_examples=60,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=bodies, key=st.sampled_from(["k1", "k2", "k3", "", "x" * 300]))
    def report(body: Any, key: str) -> None:
        headers = member_headers(token, **{"Idempotency-Key": key})
        before = sum(notify_repo.consents(member_id).values())
        response = api.http.post("/v1/me/subscriptions", body=dumps(body), headers=headers)
        assert response.status_code < 500, response.body
        after = sum(notify_repo.consents(member_id).values())
        if response.status_code == 200:
            results = body["results"]
            assert after - before in (0, sum(1 for v in results.values() if v == "accept"))
            accepted["total"] += after - before
        else:
            assert after == before, json.dumps(body)  # a refused request writes nothing

    report()
    assert sum(notify_repo.consents(member_id).values()) == accepted["total"] <= 3 * 20
