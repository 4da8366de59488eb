"""What the store's failures mean to callers, without leaking PynamoDB types upward.

`is_unavailable` is the one place that decides whether a failure is DynamoDB being throttled
or briefly unreachable (503 `busy` with Retry-After: retry the same request) or something a
retry cannot fix, such as a ValidationException (a bug or bad input: 500, logged with its
stack). `store/tx.py` asks it too, so a transaction is re-planned for exactly these causes.
"""

from __future__ import annotations

from collections.abc import Iterable

from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pynamodb.exceptions import PynamoDBException

# DynamoDB's error codes for "throttled, or failed on its side": nothing was written.
UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
# A TransactWriteItems cancelled for these reasons may be tried again as it is.
UNAVAILABLE_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
# botocore gave up reaching DynamoDB (EndpointConnectionError, ConnectTimeoutError are ConnectionErrors).
_NETWORK = (BotoConnectionError, ReadTimeoutError, ConnectionClosedError)


def is_unavailable(error: BaseException) -> bool:
    """DynamoDB throttled us, failed on its side or could not be reached, after botocore's own
    retries: nothing was written by the failed call, and the client may retry with the same key."""
    from chalicelib.store.tx import TransactionFailed  # tx imports this module

    if isinstance(error, TransactionFailed):
        sent = error.__cause__  # the TransactWriteError; its cause is botocore's own error
        if isinstance(sent, PynamoDBException) and isinstance(sent.cause, _NETWORK):
            return True
        return _transaction_retryable(error.raw_code, error.reasons.values())
    if isinstance(error, _NETWORK):
        return True
    if not isinstance(error, PynamoDBException):
        return False
    if isinstance(error.cause, _NETWORK):
        return True
    if error.cause_response_code == "TransactionCanceledException":
        reasons = getattr(error, "cancellation_reasons", None) or []
        return _transaction_retryable(None, [reason.code for reason in reasons if reason is not None])
    return error.cause_response_code in UNAVAILABLE_CODES or _status(error.cause) >= 500


def _transaction_retryable(code: str | None, reasons: Iterable[str]) -> bool:
    """A cancelled or failed transaction that contention or throttling explains."""
    return code in UNAVAILABLE_CODES or bool(UNAVAILABLE_REASONS & set(reasons))


def _status(cause: BaseException | None) -> int:
    """The HTTP status DynamoDB answered with (a 5xx is its own failure, whatever the code)."""
    response = getattr(cause, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def condition_failed(error: PynamoDBException) -> bool:
    """A conditional write refused because its condition did not hold (not a failure of DynamoDB)."""
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"
