"""The events queue: domain events (`domain/events.py`) travel on one SQS queue, 10 per
SendMessageBatch.

Services never publish here: they stage events in the outbox with their cause, and the relay
(`notify/relay.py`) publishes. The jobs whose events have no write of their own (reminders,
dormant members, campaign fan-out) publish here directly; a failure fails the job's page,
which its checkpoint hands to the next run. boto3 is imported on first publish, not at
module import: most requests never publish.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from chalicelib.domain.events import DomainEvent
from chalicelib.observability import logger
from chalicelib.settings import get_settings

BATCH_SIZE = 10  # SendMessageBatch's limit
_SEND_ATTEMPTS = 4


class PublishFailed(Exception):
    """Some events could not be queued after retries: the relay retries from the first of
    them, a job's page runs again."""


_client: Any = None
_queue_urls: dict[str, str] = {}
_lock = threading.Lock()


def sqs_client() -> Any:
    global _client
    with _lock:
        if _client is None:
            import boto3
            from botocore.config import Config

            # Short timeouts, well below the Lambda's: a hung SQS call must not eat the function's time.
            config = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})
            _client = boto3.client("sqs", region_name=get_settings().region, config=config)
        return _client


def queue_url(name: str) -> str:
    """The URL of a queue, looked up once per container."""
    with _lock:
        cached = _queue_urls.get(name)
    if cached:
        return cached
    url = str(sqs_client().get_queue_url(QueueName=name)["QueueUrl"])
    with _lock:
        _queue_urls[name] = url
    return url


def reset_clients() -> None:
    """Forget cached clients and queue URLs (tests point them at a fresh moto)."""
    global _client
    with _lock:
        _client = None
        _queue_urls.clear()


def chunks(items: Sequence[Any], size: int = BATCH_SIZE) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def publish(events: Sequence[DomainEvent], queue_name: str | None = None) -> int:
    """Queue the events, 10 per SendMessageBatch; returns the number of batch calls made.

    Entries that SQS refuses inside an accepted batch (throttling) are sent again, alone
    in a new batch, up to a few times."""
    if not events:
        return 0
    url = queue_url(queue_name or get_settings().events_queue_name)
    calls = 0
    for batch in chunks(list(events)):
        pending = {str(index): event for index, event in enumerate(batch)}
        for _ in range(_SEND_ATTEMPTS):
            entries = [{"Id": key, "MessageBody": event.to_json()} for key, event in pending.items()]
            calls += 1
            result = sqs_client().send_message_batch(QueueUrl=url, Entries=entries)
            pending = {failed["Id"]: pending[failed["Id"]] for failed in result.get("Failed", [])}
            if not pending:
                break
        if pending:
            ids = [event.event_id for event in pending.values()]
            logger.error("events not queued", extra={"event_ids": ids})
            raise PublishFailed(f"{len(ids)} event(s) not queued")
    return calls
