"""The outbox relay: the outbox table's DynamoDB stream → the events queue.

Lambda hands the function the stream's records in order (batches of up to 100, bisected on
error by the event source). New outbox items (INSERT) are queued 10 per SendMessageBatch; a
MODIFY (the same event id staged again) or REMOVE (TTL) is not. When SQS refuses a batch, the
first record of that batch is reported in `batchItemFailures`: Lambda retries the shard from
there, so nothing after it is skipped and what was queued already may be queued again — the
sender sends each event id once. An image that cannot be read is logged and counted, never
retried: it would hold the shard until the stream's 24 h retention ran out.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.events import DomainEvent
from chalicelib.notify import events
from chalicelib.observability import logger, metrics


def relay_batch(event: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    from chalicelib.store.outbox_repo import event_from_image

    queued: list[tuple[str, DomainEvent]] = []
    for record in event.get("Records", []):
        if record.get("eventName") != "INSERT":
            continue
        sequence = str(record["dynamodb"]["SequenceNumber"])
        try:
            queued.append((sequence, event_from_image(record["dynamodb"]["NewImage"])))
        except (KeyError, TypeError, ValueError) as error:
            logger.error("outbox record unreadable: skipped", extra={"sequence": sequence, "error": repr(error)})
            metrics.add_metric(name="OutboxRecordsUnreadable", unit="Count", value=1)
    for batch in events.chunks(queued):
        try:
            events.publish([event for _, event in batch])
        except Exception as error:  # noqa: BLE001 - any SQS failure: Lambda retries from this record
            logger.warning("outbox relay: queue unavailable", extra={"error": type(error).__name__})
            return {"batchItemFailures": [{"itemIdentifier": batch[0][0]}]}
    return {"batchItemFailures": []}
