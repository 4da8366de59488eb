"""Domain events and their queue.

Services publish events *after* their state change committed. An event id is derived from
the idempotency key of the write that caused it (`earn:order:42`, `birthday:m_1:2026`), so a
retried request, a replayed callback or a re-run job publishes the same id again, and the
sender, which records one delivery per (event id, channel), sends it once.

Events travel on one SQS queue in batches of up to 10 (SendMessageBatch). boto3 is imported
on first publish, not at module import: most requests never publish.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from chalicelib.observability import logger
from chalicelib.settings import get_settings

BATCH_SIZE = 10  # SendMessageBatch's limit
_SEND_ATTEMPTS = 4


@dataclass(frozen=True)
class DomainEvent:
    """Something that happened, for the notification sender and the background tasks.

    `kind` is e.g. `points.expired`, `member.welcome`, or `task.mp_user_sync` for work that
    must leave the request path (WeChat API calls)."""

    event_id: str
    kind: str
    member_id: str | None
    occurred_at: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, body: str) -> DomainEvent:
        raw = json.loads(body)
        if not isinstance(raw, dict):
            raise ValueError("event body is not a JSON object")
        return cls(
            event_id=str(raw["event_id"]),
            kind=str(raw["kind"]),
            member_id=None if raw.get("member_id") is None else str(raw["member_id"]),
            occurred_at=str(raw["occurred_at"]),
            data=dict(raw.get("data") or {}),
        )


class PublishFailed(Exception):
    """Some events could not be queued after retries; the caller's write stands, and a retry
    of the same request re-publishes them under the same ids."""


_client: Any = None
_queue_urls: dict[str, str] = {}
_lock = threading.Lock()


def sqs_client() -> Any:
    global _client
    with _lock:
        if _client is None:
            import boto3

            _client = boto3.client("sqs", region_name=get_settings().region)
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


def publish_quietly(events: Sequence[DomainEvent]) -> None:
    """For request paths whose write already committed: a queue outage must not turn a
    success into an error. The event is logged (and counted) instead; a retry of the same
    request re-publishes it under the same id."""
    from chalicelib.observability import metrics

    try:
        publish(events)
    except Exception as error:  # noqa: BLE001 - any SQS failure: the write stands, the event is logged
        metrics.add_metric(name="EventsNotQueued", unit="Count", value=len(events))
        logger.warning(
            "events not queued", extra={"event_ids": [e.event_id for e in events], "error": type(error).__name__}
        )
