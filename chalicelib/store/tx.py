"""One DynamoDB TransactWriteItems, with its cancellation reasons mapped back to our items.

PynamoDB sends a transaction's items grouped by kind (condition checks, deletes, puts,
updates), not in the order they were added, and reports cancellation reasons in the
order sent. This wrapper tags each item so a failure names the item that caused it.
"""

from __future__ import annotations

from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

_SEND_ORDER = ("check", "delete", "put", "update")
_RETRYABLE_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_RETRYABLE_CODES = {
    "TransactionConflictException",
    "TransactionInProgressException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
}


class TransactionFailed(Exception):
    """The transaction was cancelled. `reasons` maps item tag → DynamoDB reason code."""

    def __init__(self, reasons: dict[str, str], raw_code: str | None) -> None:
        super().__init__(f"transaction cancelled: {reasons or raw_code}")
        self.reasons = reasons
        self.raw_code = raw_code

    def failed(self, tag: str) -> bool:
        return self.reasons.get(tag) == "ConditionalCheckFailed"

    @property
    def retryable(self) -> bool:
        """Contention or throttling: nothing was written and the same plan may be tried again."""
        return bool(_RETRYABLE_REASONS & set(self.reasons.values())) or self.raw_code in _RETRYABLE_CODES


_connection: Connection | None = None


def _get_connection(region: str) -> Connection:
    global _connection
    if _connection is None:
        _connection = Connection(region=region)
    return _connection


class TaggedTransaction:
    def __init__(self, region: str) -> None:
        self._region = region
        self._ops: list[tuple[str, str, tuple[Any, ...], dict[str, Any]]] = []

    def update(self, tag: str, item: Model, actions: list[Any], condition: Any = None) -> None:
        self._ops.append(("update", tag, (item,), {"actions": actions, "condition": condition}))

    def put(self, tag: str, item: Model, condition: Any = None) -> None:
        self._ops.append(("put", tag, (item,), {"condition": condition}))

    def delete(self, tag: str, item: Model, condition: Any = None) -> None:
        self._ops.append(("delete", tag, (item,), {"condition": condition}))

    def commit(self) -> None:
        sent_tags = [tag for kind in _SEND_ORDER for k, tag, _, _ in self._ops if k == kind]
        try:
            with TransactWrite(connection=_get_connection(self._region)) as tx:
                for kind, _tag, args, kwargs in self._ops:
                    if kind == "update":
                        tx.update(*args, **kwargs)
                    elif kind == "put":
                        tx.save(*args, **kwargs)
                    else:
                        tx.delete(*args, **kwargs)
        except TransactWriteError as error:
            reasons = {
                tag: reason.code
                for tag, reason in zip(sent_tags, error.cancellation_reasons or [], strict=False)
                if reason is not None and reason.code not in (None, "None")
            }
            raise TransactionFailed(reasons, error.cause_response_code) from error
