"""The events queue, read by tests: drained as it is, or run through the worker's handler in-process.

Events reach the queue through the outbox: `relay()` hands the outbox table's new stream
records to the relay function, as the DynamoDB Streams event source does in the cloud, and
`drain()` relays before it reads the queue.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.notify import consumer, events
from chalicelib.settings import get_settings
from local.streams import StreamTail

_tails: dict[str, StreamTail] = {}


def relay() -> int:
    """Queue what the outbox holds and was not relayed yet; the records relayed."""
    from app import outbox_relay

    table = get_settings().table_name("outbox")
    tail = _tails.setdefault(table, StreamTail(table))
    relayed = 0
    while True:
        count = tail.pump(outbox_relay)
        if not count:
            return relayed
        relayed += count


def drain() -> list[dict[str, Any]]:
    """Every event on the events queue (after relaying the outbox), removed from it."""
    relay()
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
