"""The SQS consumer: one Lambda invocation, one batch of up to 10 events.

Each record is dispatched by its event kind: `task.*` kinds to the background task named
in `TASKS`, every other kind to the notification sender. Outcomes (`domain/tasks.py`):

- the handler returns: the record is done (SQS deletes it);
- `PermanentFailure`: retrying cannot help (WeChat refused the request for good): the
  record is copied to the dead-letter queue with the reason, and counts as done;
- any other exception (`RetryLater`, a DynamoDB outage, a bug): the record is reported in
  `batchItemFailures`, so SQS redelivers only it; after the queue's maxReceiveCount SQS
  moves it to the DLQ itself.

Powertools' batch processor does the partial-failure bookkeeping; the event source mapping
carries `ReportBatchItemFailures` (infra/queues.json), which Chalice cannot declare.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.tasks import PermanentFailure
from chalicelib.notify.events import queue_url, sqs_client
from chalicelib.observability import bind_correlation_id, logger, metrics
from chalicelib.settings import get_settings

SENDER = "chalicelib.notify.sender:deliver"

# kind → "module:function". Imported on first use: the worker Lambda loads only what it runs.
TASKS: dict[str, str] = {
    "task.mp_user_sync": "chalicelib.services.channel_tasks:sync_mp_user",
    "task.work_contact_sync": "chalicelib.services.channel_tasks:sync_work_contact",
    "task.work_mark_tag": "chalicelib.services.channel_tasks:mark_work_tier_tag",
    "task.merge_members": "chalicelib.services.channel_tasks:merge_task",
    "task.move_coupons": "chalicelib.services.coupon_moves:move_task",
    "task.card_sync": "chalicelib.services.member_card:sync_task",
    "task.pay_refund": "chalicelib.services.pay_refund_task:run",
}


def _resolve(path: str) -> Callable[[DomainEvent], Any]:
    module_name, _, name = path.partition(":")
    handler: Callable[[DomainEvent], Any] = getattr(importlib.import_module(module_name), name)
    return handler


def dispatch(event: DomainEvent) -> None:
    if event.kind.startswith("task."):
        path = TASKS.get(event.kind)
        if path is None:
            raise PermanentFailure(f"unknown task kind {event.kind}")
        _resolve(path)(event)
    else:
        _resolve(SENDER)(event)


def handle_record(body: str, receive_count: int = 1) -> None:
    """Process one message body; raises to ask for a redelivery."""
    bind_correlation_id(None)
    try:
        event = DomainEvent.from_json(body)
        bind_correlation_id(event.correlation_id)
    except (ValueError, KeyError, TypeError) as error:
        dead_letter(body, f"unreadable event: {type(error).__name__}")
        return
    logger.append_keys(event_id=event.event_id, event_kind=event.kind)
    try:
        dispatch(event)
    except PermanentFailure as failure:
        dead_letter(body, str(failure))
    finally:
        logger.remove_keys(["event_id", "event_kind"])


def dead_letter(body: str, reason: str) -> None:
    logger.warning("event dead-lettered", extra={"reason": reason})
    metrics.add_metric(name="EventsDeadLettered", unit="Count", value=1)
    sqs_client().send_message(
        QueueUrl=queue_url(get_settings().events_dlq_name),
        MessageBody=body,
        MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
    )


def handle_batch(raw_event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda body for an SQS batch; returns `{"batchItemFailures": [...]}`."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    def record_handler(record: SQSRecord) -> None:
        count = int(record.attributes.approximate_receive_count or 1)
        handle_record(record.body, count)

    # raise_on_entire_batch_failure=False: a batch where every record failed still answers
    # with the list, so SQS retries exactly those records, like any partial failure.
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(
        process_partial_response(event=raw_event, record_handler=record_handler, processor=processor, context=context)
    )
