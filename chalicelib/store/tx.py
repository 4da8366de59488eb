"""The unit of work: one DynamoDB TransactWriteItems that repositories stage writes into.

Each repository stages its writes (put, update, delete or condition check, each with its
condition) under a tag it chooses (`member`, `lot:2027-11-30`, `coupon:C1`), and the domain
events the change causes (the outbox: `stage_event`). The service commits once: everything,
or nothing. A refused condition comes back as `TransactionFailed` naming the tags that
failed, so the repository that staged an item turns it into its own domain error — no string
matching. DynamoDB's limits are enforced before anything is sent, with a clear error: at most
100 actions, no two actions on one item, and 4 MB in all.

PynamoDB sends a transaction's items grouped by kind (condition checks, deletes, puts,
updates), not in the order they were added, and reports cancellation reasons in the order
sent; the tags are laid out in that same order to read the reasons back.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

if TYPE_CHECKING:
    from chalicelib.domain.events import DomainEvent

MAX_ACTIONS = 100
MAX_BYTES = 4 * 1024 * 1024
_SEND_ORDER = ("check", "delete", "put", "update")


class TransactionFailed(Exception):
    """The transaction was cancelled. `reasons` maps item tag → DynamoDB reason code."""

    def __init__(self, reasons: dict[str, str], raw_code: str | None) -> None:
        super().__init__(f"transaction cancelled: {reasons or raw_code}")
        self.reasons = reasons
        self.raw_code = raw_code

    def failed(self, tag: str) -> bool:
        return self.reasons.get(tag) == "ConditionalCheckFailed"

    def failed_tags(self, prefix: str = "") -> list[str]:
        """The tags (starting with `prefix`) whose condition did not hold."""
        return [
            tag for tag, code in self.reasons.items() if code == "ConditionalCheckFailed" and tag.startswith(prefix)
        ]

    @property
    def refused(self) -> bool:
        """Some staged condition did not hold: the plan was made from state that moved."""
        return "ConditionalCheckFailed" in self.reasons.values()

    @property
    def retryable(self) -> bool:
        """Contention or throttling: nothing was written and the same plan may be tried again."""
        from chalicelib.store.errors import is_unavailable  # errors imports this module

        return is_unavailable(self)


class TransactionTooLarge(ValueError):
    """The staged writes break one of DynamoDB's transaction limits: a bug in the caller's
    batching, never worth retrying."""


_connection: Connection | None = None


def _get_connection(region: str) -> Connection:
    global _connection
    if _connection is None:
        # The same short timeouts as the models (store/models/_base.py `_Meta`), well below the Lambda's.
        _connection = Connection(region=region, connect_timeout_seconds=2, read_timeout_seconds=5, max_retry_attempts=3)
    return _connection


def reset_connection() -> None:
    """Forget the connection (tests point the store at a fresh embedded AWS)."""
    global _connection
    _connection = None


class UnitOfWork:
    def __init__(self, region: str) -> None:
        self._region = region
        self._ops: list[tuple[str, str, Model, dict[str, Any]]] = []
        self._items: dict[tuple[str, str], str] = {}  # (table, key) → tag: one action per item
        # What stagers learned while staging, for the others in this transaction (e.g. whether a
        # member holds a WeChat member card: read at most once per transaction).
        self.notes: dict[str, Any] = {}

    def update(self, tag: str, item: Model, actions: list[Any], condition: Any = None) -> None:
        self._stage("update", tag, item, {"actions": actions, "condition": condition})

    def put(self, tag: str, item: Model, condition: Any = None) -> None:
        self._stage("put", tag, item, {"condition": condition})

    def delete(self, tag: str, item: Model, condition: Any = None) -> None:
        self._stage("delete", tag, item, {"condition": condition})

    def check(self, tag: str, item: Model, condition: Any) -> None:
        """A condition on an item this unit of work does not write (e.g. a template is active)."""
        self._stage("check", tag, item, {"condition": condition})

    def stage_event(self, event: DomainEvent) -> None:
        """The outbox: the event is written with its cause; a stream handler queues it."""
        from chalicelib.store import outbox_repo  # the outbox repository imports this module

        outbox_repo.stage(self, event)

    @property
    def size(self) -> int:
        return len(self._ops)

    def tags(self) -> list[str]:
        return [tag for _, tag, _, _ in self._ops]

    def _stage(self, kind: str, tag: str, item: Model, kwargs: dict[str, Any]) -> None:
        if tag in self.tags():
            raise TransactionTooLarge(f"two actions staged under tag {tag!r}")
        key = (type(item).Meta.table_name, json.dumps(item._get_keys(), sort_keys=True, default=str))  # type: ignore[no-untyped-call]
        if key in self._items:
            raise TransactionTooLarge(f"{tag!r} and {self._items[key]!r} act on the same item")
        if len(self._ops) >= MAX_ACTIONS:
            raise TransactionTooLarge(f"more than {MAX_ACTIONS} actions in one transaction")
        self._items[key] = tag
        self._ops.append((kind, tag, item, kwargs))

    def _check_bytes(self) -> None:
        size = sum(len(json.dumps(item.serialize(null_check=False), default=str)) for _, _, item, _ in self._ops)
        if size > MAX_BYTES:
            raise TransactionTooLarge(f"{size} bytes staged: a transaction holds at most {MAX_BYTES}")

    def commit(self) -> None:
        if not self._ops:
            return
        from chalicelib.store import audit_repo  # the audit repository imports this module

        # An audited request (an admin write): its entry commits with the first effect.
        scope = audit_repo.stage_scoped(self)
        try:
            self._send()
        except BaseException:
            if scope is not None:
                self._unstage(audit_repo.TAG)
            raise
        if scope is not None:
            scope.recorded = True

    def _unstage(self, tag: str) -> None:
        """Takes a staged action back out (the audit entry of a transaction that failed, so a
        re-planned commit of the same unit of work stages it afresh)."""
        for index, (_, staged, _, _) in enumerate(self._ops):
            if staged == tag:
                del self._ops[index]
                self._items = {key: t for key, t in self._items.items() if t != tag}
                return

    def _send(self) -> None:
        self._check_bytes()
        sent_tags = [tag for kind in _SEND_ORDER for k, tag, _, _ in self._ops if k == kind]
        try:
            with TransactWrite(connection=_get_connection(self._region)) as tx:
                for kind, _tag, item, kwargs in self._ops:
                    if kind == "update":
                        tx.update(item, **kwargs)
                    elif kind == "put":
                        tx.save(item, **kwargs)
                    elif kind == "delete":
                        tx.delete(item, **kwargs)
                    else:
                        tx.condition_check(type(item), *_keys(item), condition=kwargs["condition"])
        except TransactWriteError as error:
            reasons = {
                tag: reason.code
                for tag, reason in zip(sent_tags, error.cancellation_reasons or [], strict=False)
                if reason is not None and reason.code not in (None, "None")
            }
            raise TransactionFailed(reasons, error.cause_response_code) from error


def _keys(item: Model) -> tuple[Any, Any]:
    hash_attribute = item._hash_key_attribute()  # type: ignore[no-untyped-call]
    range_attribute = item._range_key_attribute()  # type: ignore[no-untyped-call]
    return getattr(item, hash_attribute.attr_name), getattr(
        item, range_attribute.attr_name
    ) if range_attribute else None
