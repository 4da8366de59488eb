"""What the store's failures mean to callers, without leaking PynamoDB types upward."""

from __future__ import annotations

from pynamodb.exceptions import PynamoDBException


def is_unavailable(error: BaseException) -> bool:
    """DynamoDB failed (throttled, timed out, internal error) after botocore's own retries:
    nothing was written by the failed call, and the client may retry with the same key."""
    return isinstance(error, PynamoDBException)


def condition_failed(error: PynamoDBException) -> bool:
    """A conditional write refused because its condition did not hold (not a failure of DynamoDB)."""
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"
