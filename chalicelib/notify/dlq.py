"""The dead-letter queue: list what is there (without consuming it) and send it back."""

from __future__ import annotations

from typing import Any

from chalicelib.notify.events import queue_url, sqs_client
from chalicelib.settings import get_settings


def _receive(url: str, limit: int, visibility: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while len(messages) < limit:
        got = sqs_client().receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(messages)),
            VisibilityTimeout=visibility,
            MessageAttributeNames=["All"],
            AttributeNames=["ApproximateReceiveCount"],
        )
        batch = got.get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
    return messages


def list_dead_letters(limit: int = 10) -> list[dict[str, Any]]:
    """Peek: messages are received with a short visibility and made visible again at once."""
    url = queue_url(get_settings().events_dlq_name)
    messages = _receive(url, limit, visibility=30)
    for message in messages:
        sqs_client().change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    return [
        {
            "body": message["Body"],
            "reason": message.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "max receives"),
            "receive_count": int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
        }
        for message in messages
    ]


def redrive(limit: int | None = None) -> int:
    """Move dead letters back to the events queue, ten per call: sent first, then deleted (a
    crash in between re-sends a few, which the sender's delivery records make harmless).

    Without a limit it moves what the DLQ held when it started, so letters that fail again
    while it runs are not chased round in circles."""
    settings = get_settings()
    dlq, target = queue_url(settings.events_dlq_name), queue_url(settings.events_queue_name)
    if limit is None:
        attributes = sqs_client().get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        limit = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    moved = 0
    while moved < limit:
        batch = _receive(dlq, min(10, limit - moved), visibility=60)
        if not batch:
            break
        entries = [{"Id": str(n), "MessageBody": m["Body"]} for n, m in enumerate(batch)]
        result = sqs_client().send_message_batch(QueueUrl=target, Entries=entries)
        sent = [batch[int(ok["Id"])] for ok in result.get("Successful", [])]
        if sent:
            receipts = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(sent)]
            sqs_client().delete_message_batch(QueueUrl=dlq, Entries=receipts)
        moved += len(sent)
        if len(sent) < len(batch):
            break  # the rest become visible again in the DLQ; a later redrive moves them
    return moved
