"""Count DynamoDB requests and items per operation, at the one boundary every PynamoDB call crosses."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pynamodb.connection.base import Connection

_READS = {"GetItem", "BatchGetItem", "Query", "Scan"}


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    items_written: int = 0
    read_requests: int = 0
    items_read: int = 0

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "items_written": self.items_written,
            "read_requests": self.read_requests,
            "items_read": self.items_read,
        }


@contextmanager
def count_dynamodb() -> Iterator[Tally]:
    tally = Tally()
    original = Connection._make_api_call

    def counting(self: Connection, operation: str, kwargs: dict[str, Any]) -> Any:
        tally.requests[operation] += 1
        if operation == "TransactWriteItems":
            tally.items_written += len(kwargs["TransactItems"])
        elif operation in ("PutItem", "UpdateItem", "DeleteItem"):
            tally.items_written += 1
        result = original(self, operation, kwargs)
        if operation in _READS:
            tally.read_requests += 1
            if operation == "GetItem":
                tally.items_read += 1 if result.get("Item") else 0
            elif operation == "BatchGetItem":
                tally.items_read += sum(len(items) for items in result.get("Responses", {}).values())
            else:
                tally.items_read += int(result.get("ScannedCount", result.get("Count", 0)))
        return result

    Connection._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield tally
    finally:
        Connection._make_api_call = original  # type: ignore[method-assign]
