"""Fault injection at the DynamoDB API boundary: every PynamoDB call passes through
`Connection._make_api_call`, so raising there looks, to our code, like DynamoDB failing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.connection.base import Connection
from pynamodb.exceptions import CancellationReason, VerboseClientError

Rule = Callable[[str, dict[str, Any]], Exception | None]


def client_error(code: str, operation: str, **extra: Any) -> ClientError:
    """The error as PynamoDB's own `_make_api_call` raises it: a VerboseClientError carrying the
    parsed cancellation reasons of a TransactWriteItems."""
    reasons = [
        CancellationReason(code=reason["Code"], message=reason.get("Message")) if reason["Code"] != "None" else None
        for reason in extra.get("CancellationReasons", [])
    ]
    response = {"Error": {"Code": code, "Message": f"injected {code}"}, **extra}
    return VerboseClientError(response, operation, {}, cancellation_reasons=reasons)


def transaction_conflict(items: int) -> ClientError:
    reasons = [{"Code": "TransactionConflict", "Message": "injected"}] * items
    return client_error("TransactionCanceledException", "TransactWriteItems", CancellationReasons=reasons)


class Injector:
    """Fails the first `times` calls of `operation` (or every call when times is None)."""

    def __init__(self, operation: str, make: Callable[[dict[str, Any]], Exception], times: int | None) -> None:
        self.operation, self.make, self.remaining = operation, make, times
        self.injected = 0
        self.lock = threading.Lock()

    def __call__(self, operation: str, kwargs: dict[str, Any]) -> Exception | None:
        if operation != self.operation:
            return None
        with self.lock:
            if self.remaining is not None:
                if self.remaining <= 0:
                    return None
                self.remaining -= 1
            self.injected += 1
        return self.make(kwargs)


@contextmanager
def inject(monkeypatch: pytest.MonkeyPatch, rule: Injector) -> Iterator[Injector]:
    original = Connection._make_api_call

    def faulty(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        error = rule(operation_name, operation_kwargs)
        if error is not None:
            raise error
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", faulty)
    yield rule
    monkeypatch.setattr(Connection, "_make_api_call", original)


def unreachable(kind: type[BotoCoreError]) -> BotoCoreError:
    """What botocore raises when DynamoDB cannot be reached, after its own retries."""
    return kind(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


@contextmanager
def poisoned_item(monkeypatch: pytest.MonkeyPatch, index: int, times: int | None = None) -> Iterator[list[int]]:
    """Every TransactWriteItems (the first `times`) runs for real with item `index`'s condition
    made false (`attribute_exists` of an attribute nothing has): DynamoDB cancels the whole
    transaction on that one item. Yields the sizes of the transactions it poisoned."""
    original = Connection._make_api_call
    poisoned: list[int] = []
    lock = threading.Lock()

    def faulty(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        items = operation_kwargs.get("TransactItems") if operation_name == "TransactWriteItems" else None
        with lock:
            hit = items is not None and index < len(items) and (times is None or len(poisoned) < times)
            if hit and items is not None:
                poisoned.append(len(items))
        if hit and items is not None:
            operation_kwargs = _poison(operation_kwargs, index)
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", faulty)
    yield poisoned
    monkeypatch.setattr(Connection, "_make_api_call", original)


def _poison(kwargs: dict[str, Any], index: int) -> dict[str, Any]:
    items = [dict(item) for item in kwargs["TransactItems"]]
    ((kind, op),) = items[index].items()
    op = dict(op)
    never = "attribute_exists(#wxm_never)"
    existing = op.get("ConditionExpression")
    if existing and not (existing.startswith("(") and existing.endswith(")")):
        existing = f"({existing})"  # moto refuses parentheses that are already there
    op["ConditionExpression"] = f"{existing} AND {never}" if existing else never
    op["ExpressionAttributeNames"] = {**op.get("ExpressionAttributeNames", {}), "#wxm_never": "wxm_never_there"}
    items[index] = {kind: op}
    return {**kwargs, "TransactItems": items}
