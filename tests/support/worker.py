"""The events queue, read by tests: drained as it is, or run through the worker's handler in-process."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.notify import consumer, events
from chalicelib.settings import get_settings


def drain() -> list[dict[str, Any]]:
    """Every event on the events queue, removed from it."""
    url = events.queue_url(get_settings().events_queue_name)
    bodies: list[dict[str, Any]] = []
    while True:
        batch = events.sqs_client().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return bodies
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            events.sqs_client().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def run_worker(rounds: int = 5) -> list[str]:
    """Drain the queue into the worker's handler until nothing new arrives; the kinds handled."""
    handled: list[str] = []
    for _ in range(rounds):
        batch = drain()
        if not batch:
            break
        for body in batch:
            consumer.handle_record(json.dumps(body))
            handled.append(str(body["kind"]))
    return handled
