"""The audit trail (AuditModel): written with its effect, read newest first by index.

The router binds an `AuditScope` for each admin write and privacy request (`bind`); a
service adds what changed (`describe`); the first `UnitOfWork` that commits inside the scope
stages the entry in its own transaction (`stage_scoped`), so the effect and its entry are
written together or not at all, and only once per request. A request that commits nothing
(a replay, a refusal) leaves no entry. Reads that must be audited (an export of a member's
data) write their entry on their own, before the data leaves (`record`).
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.clock import local_date
from chalicelib.domain.audit import AuditEntry, AuditScope, summary
from chalicelib.domain.errors import InvalidInput
from chalicelib.settings import get_settings
from chalicelib.store.models import AuditModel

if TYPE_CHECKING:
    from chalicelib.store.tx import UnitOfWork

TAG = "audit"
_scope: contextvars.ContextVar[AuditScope | None] = contextvars.ContextVar("audit_scope", default=None)


@contextmanager
def bind(entry: AuditEntry) -> Iterator[AuditScope]:
    scope = AuditScope(entry)
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


def current() -> AuditScope | None:
    return _scope.get()


def describe(
    target: str | None = None, before: dict[str, Any] | None = None, after: dict[str, Any] | None = None
) -> None:
    """What the request under way changed; a no-op outside an audited request (jobs, tests)."""
    scope = _scope.get()
    if scope is None or scope.recorded:
        return
    if target is not None and target != scope.entry.target:
        scope.entry.via = scope.entry.via or scope.entry.target
        scope.entry.target = target
    if before is not None:
        scope.entry.before = summary(before)
    if after is not None:
        scope.entry.after = summary(after)


def stage_scoped(uow: UnitOfWork) -> AuditScope | None:
    """Stages the scope's entry into `uow` when a scope is bound and not yet recorded; the
    caller marks it recorded once the transaction has committed."""
    scope = _scope.get()
    if scope is None or scope.recorded:
        return None
    uow.put(TAG, _item(scope.entry), condition=AuditModel.audit_id.does_not_exist())
    return scope


def record(entry: AuditEntry) -> None:
    """An entry on its own (for audited reads); idempotent per request id."""
    from pynamodb.exceptions import PutError

    from chalicelib.store.errors import condition_failed

    try:
        _item(entry).save(condition=AuditModel.audit_id.does_not_exist())
    except PutError as error:
        if not condition_failed(error):
            raise


def _item(entry: AuditEntry) -> AuditModel:
    at = datetime.fromisoformat(entry.at)
    return AuditModel(
        entry.audit_id,
        at=entry.at,
        at_id=f"{entry.at}#{entry.audit_id}",
        month=local_date(at, get_settings().timezone).strftime("%Y-%m"),
        operator=entry.operator,
        role=str(entry.role),
        action=entry.action,
        target=entry.target,
        request_id=entry.request_id,
        before=entry.before,
        after=entry.after,
        via=entry.via,
    )


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    cursor: str | None


def query(
    *,
    target: str | None,
    operator: str | None,
    start: datetime,
    end: datetime,
    limit: int,
    cursor: str | None,
) -> AuditPage:
    """Newest first within [start, end], by the target's index, else the operator's, else
    month by month: never a scan. The cursor is opaque to the caller."""
    low, high = f"{_iso(start)}#", f"{_iso(end)}#\uffff"
    position = _decode(cursor)
    if target is not None or operator is not None:
        index: Any = AuditModel.by_target if target is not None else AuditModel.by_operator
        partition = str(target if target is not None else operator)
        condition = (AuditModel.operator == operator) if target is not None and operator is not None else None
        found, last = _page(index, partition, low, high, limit, position.get("last"), condition)
        return AuditPage(found, _encode({"last": last}) if last else None)
    months = _months_between(start, end)
    month_index = months.index(position["month"]) if position.get("month") in months else 0
    entries: list[AuditEntry] = []
    last_key = position.get("last")
    for month in months[month_index:]:
        found, last_key = _page(AuditModel.by_month, month, low, high, limit - len(entries), last_key, None)
        entries.extend(found)
        if last_key is not None:
            return AuditPage(entries, _encode({"month": month, "last": last_key}))
        if len(entries) >= limit:
            following = months[months.index(month) + 1 :]
            return AuditPage(entries, _encode({"month": following[0]}) if following else None)
    return AuditPage(entries, None)


def _page(
    index: Any, partition: str, low: str, high: str, limit: int, last: Any, condition: Any
) -> tuple[list[AuditEntry], Any]:
    results = index.query(
        partition,
        AuditModel.at_id.between(low, high),
        filter_condition=condition,
        scan_index_forward=False,
        limit=limit,
        last_evaluated_key=last,
        page_size=limit,
    )
    entries = [_entry(item) for item in results]
    return entries, results.last_evaluated_key if len(entries) >= limit else None


def _entry(item: AuditModel) -> AuditEntry:
    return AuditEntry(
        audit_id=item.audit_id,
        at=item.at,
        operator=item.operator,
        role=item.role,
        action=item.action,
        target=item.target,
        request_id=item.request_id,
        before=item.before,
        after=item.after,
        via=item.via,
    )


def _months_between(start: datetime, end: datetime) -> list[str]:
    """The local months from `end` back to `start`, newest first."""
    zone = get_settings().timezone
    first, last = local_date(start, zone), local_date(end, zone)
    months: list[str] = []
    year, month = last.year, last.month
    while (year, month) >= (first.year, first.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def _iso(moment: datetime) -> str:
    from chalicelib.clock import iso

    return iso(moment)


def _encode(position: dict[str, Any]) -> str:
    """The position, signed: a cursor carries DynamoDB's start key, which we never take from a
    caller unless we wrote it."""
    body = base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{body}.{_mac(body)}"


def _decode(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    body, _, mac = cursor.partition(".")
    if len(cursor) > 2048 or not mac.isascii() or not hmac.compare_digest(_mac(body), mac):
        raise InvalidInput("cursor is not one this API returned", field="cursor")
    position: dict[str, Any] = json.loads(base64.urlsafe_b64decode((body + "=" * (-len(body) % 4)).encode()))
    return position


def _mac(body: str) -> str:
    secret = f"audit-cursor:{get_settings().jwt_secret}".encode()
    return hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
