"""The event queue and its dead-letter queue: created locally, emitted as CloudFormation.

One definition serves both, like the tables: `create_queues()` for the local stack and
tests, `cloudformation_resources()` for `infra/queues.json`.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.notify.events import sqs_client
from chalicelib.settings import Settings, get_settings

MAX_RECEIVE_COUNT = 5
VISIBILITY_TIMEOUT_SECONDS = 60  # ≥ 6 × the worker's Lambda timeout, as AWS advises for SQS sources
RETENTION_SECONDS = 4 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


def create_queues(settings: Settings | None = None) -> dict[str, str]:
    """Create the events queue and its DLQ (idempotent); returns name → URL."""
    settings = settings or get_settings()
    client = sqs_client()
    dlq_url = client.create_queue(
        QueueName=settings.events_dlq_name,
        Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)},
    )["QueueUrl"]
    dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
    url = client.create_queue(
        QueueName=settings.events_queue_name,
        Attributes={
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
            "MessageRetentionPeriod": str(RETENTION_SECONDS),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    return {settings.events_queue_name: url, settings.events_dlq_name: dlq_url}


def cloudformation_resources() -> dict[str, Any]:
    """`AWS::SQS::Queue` resources named after the stack, like the tables."""
    return {
        "EventsDeadLetterQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": {"Fn::Sub": "${AWS::StackName}-events-dlq"},
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
            },
        },
        "EventsQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": {"Fn::Sub": "${AWS::StackName}-events"},
                "VisibilityTimeout": VISIBILITY_TIMEOUT_SECONDS,
                "MessageRetentionPeriod": RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]},
                    "maxReceiveCount": MAX_RECEIVE_COUNT,
                },
            },
        },
    }
