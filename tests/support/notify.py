"""Notifications, read by tests: the fake WeChat API reset and read, the events queue drained
through the SQS handler the way Lambda's event source does it."""

from __future__ import annotations

from typing import Any

import requests

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.tasks import RetryLater
from chalicelib.notify import consumer, events, sender
from chalicelib.settings import get_settings
from chalicelib.wechat import clients
from local.worker import lambda_record


def reset_fake_wechat(url: str) -> str:
    """Nothing sent, no failures armed, no cached access tokens."""
    requests.post(f"{url}/_reset", timeout=5).raise_for_status()
    clients.reset_clients()
    return url


def fail_next(url: str, path: str, **rule: int) -> None:
    """Arm the fake WeChat API: the next call(s) to `path` fail (`errcode=`, `status=`, `times=`)."""
    requests.post(f"{url}/_fail", json={"path": path, **rule}, timeout=5).raise_for_status()


def sent_messages(url: str, channel: str | None = None) -> list[dict[str, Any]]:
    """What the fake WeChat API received: `{"channel", "path", "body"}` each."""
    sent: list[dict[str, Any]] = requests.get(f"{url}/_sent", timeout=5).json()
    return [s for s in sent if channel is None or s["channel"] == channel]


def drain_into_worker() -> list[dict[str, Any]]:
    """Deliver everything queued through the SQS handler, 10 records per invocation, like Lambda;
    failed records stay on the queue. Returns the batch item failures reported."""
    client, url = events.sqs_client(), events.queue_url(get_settings().events_queue_name)
    failures: list[dict[str, Any]] = []
    while True:
        got = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
        messages = got.get("Messages", [])
        if not messages:
            return failures
        records = [lambda_record(m, "arn:aws:sqs:us-east-1:123456789012:events") for m in messages]
        result = consumer.handle_batch({"Records": records})
        failures.extend(result["batchItemFailures"])
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        done = [
            {"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]}
            for m in messages
            if m["MessageId"] not in failed
        ]
        if done:
            client.delete_message_batch(QueueUrl=url, Entries=done)


def asks_for_retry(event: DomainEvent) -> bool:
    """Deliver once; True when the sender asked for a later redelivery (SQS would retry it)."""
    try:
        sender.deliver(event)
        return False
    except RetryLater:
        return True
