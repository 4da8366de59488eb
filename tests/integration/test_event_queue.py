"""The event queue: batches of 10, retried refusals, dead letters with a reason, partial batch failures."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.tasks import RetryLater
from chalicelib.notify import consumer, events
from chalicelib.settings import get_settings


def _event(n: int, kind: str = "task.test") -> DomainEvent:
    return DomainEvent(f"e{n}", kind, f"m{n}", "2026-11-23T00:00:00Z", {"n": n})


def _drain(queue_name: str) -> list[dict[str, Any]]:
    url = events.queue_url(queue_name)
    messages: list[dict[str, Any]] = []
    while True:
        got = events.sqs_client().receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
        )
        batch = got.get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        for message in batch:
            events.sqs_client().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _lambda_event(messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:test-events",
            }
            for m in messages
        ]
    }


def test_publish_sends_ten_events_per_batch_call(tables: None) -> None:
    calls = events.publish([_event(n) for n in range(23)])

    assert calls == 3
    bodies = [json.loads(m["Body"]) for m in _drain(get_settings().events_queue_name)]
    assert sorted(b["event_id"] for b in bodies) == sorted(f"e{n}" for n in range(23))


def test_publish_resends_the_entries_sqs_refused(tables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    client = events.sqs_client()
    real = client.send_message_batch
    refused = {"done": False}

    def refuse_first_entry_once(**kwargs: Any) -> dict[str, Any]:
        if refused["done"]:
            return dict(real(**kwargs))
        refused["done"] = True
        accepted = real(QueueUrl=kwargs["QueueUrl"], Entries=kwargs["Entries"][1:])
        first = kwargs["Entries"][0]["Id"]
        return {**accepted, "Failed": [{"Id": first, "SenderFault": False, "Code": "Throttled"}]}

    monkeypatch.setattr(client, "send_message_batch", refuse_first_entry_once)
    calls = events.publish([_event(n) for n in range(3)])

    assert calls == 2
    assert len(_drain(get_settings().events_queue_name)) == 3


def test_unknown_task_is_dead_lettered_with_its_reason(tables: None) -> None:
    result = consumer.handle_batch(_lambda_event_from([_event(1, "task.nope")]))

    assert result == {"batchItemFailures": []}
    dead = _drain(get_settings().events_dlq_name)
    assert len(dead) == 1
    assert "unknown task kind task.nope" in dead[0]["MessageAttributes"]["reason"]["StringValue"]


def test_unreadable_body_is_dead_lettered_not_retried(tables: None) -> None:
    raw = _lambda_event([{"MessageId": "x1", "ReceiptHandle": "r1", "Body": "{not json"}])

    assert consumer.handle_batch(raw) == {"batchItemFailures": []}
    assert [m["Body"] for m in _drain(get_settings().events_dlq_name)] == ["{not json"]


def test_only_the_failed_record_is_reported_for_redelivery(tables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    handled: list[str] = []

    def task(event: DomainEvent) -> None:
        if event.data["n"] == 2:
            raise RetryLater("rate limited")
        handled.append(event.event_id)

    monkeypatch.setitem(consumer.TASKS, "task.test", "tests.integration.test_event_queue:_task")
    monkeypatch.setattr(f"{__name__}._task", task, raising=False)
    result = consumer.handle_batch(_lambda_event_from([_event(n) for n in range(4)]))

    assert result == {"batchItemFailures": [{"itemIdentifier": "msg-2"}]}
    assert handled == ["e0", "e1", "e3"]
    assert _drain(get_settings().events_dlq_name) == []


def _task(event: DomainEvent) -> None:  # replaced per test
    raise AssertionError("not patched")


def _lambda_event_from(items: list[DomainEvent]) -> dict[str, Any]:
    return _lambda_event(
        [{"MessageId": f"msg-{i}", "ReceiptHandle": f"r-{i}", "Body": e.to_json()} for i, e in enumerate(items)]
    )
