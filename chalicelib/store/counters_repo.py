"""Counters that guard limits (CounterModel): failed operator sign-ins, daily adjustment totals.

A counter lives for a window: `until` (our clock, unix seconds) voids it; the TTL only tidies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.store.errors import condition_failed
from chalicelib.store.models import CounterModel
from chalicelib.store.tx import UnitOfWork


@dataclass(frozen=True)
class Count:
    total: int
    until: float


def read(counter_id: str, now_epoch: float) -> Count | None:
    """The live count, or None when there is none or its window has passed."""
    try:
        item = CounterModel.get(counter_id, consistent_read=True)
    except CounterModel.DoesNotExist:
        return None
    if item.until is None or float(item.until) <= now_epoch:
        return None
    return Count(int(item.total), float(item.until))


def bump(counter_id: str, now_epoch: float, window_seconds: float) -> int:
    """Adds one within the live window, or starts a new window at one. Returns the new total."""
    until = now_epoch + window_seconds
    item = CounterModel(counter_id)
    try:
        item.update(
            actions=[CounterModel.total.add(1)],
            condition=CounterModel.until > now_epoch,
        )
        return int(item.total)
    except UpdateError as error:
        if not condition_failed(error):
            raise
    item.update(
        actions=[
            CounterModel.total.set(1),
            CounterModel.until.set(until),
            CounterModel.expires_at.set(_ttl(until)),
        ]
    )
    return 1


def clear(counter_id: str) -> None:
    CounterModel(counter_id).delete()


def stage_add(
    tx: UnitOfWork, tag: str, counter_id: str, amount: int, read_total: int, until: float, now_epoch: float
) -> None:
    """In a transaction: move the counter from what the plan read (`read_total`, 0 for none or
    a past window) by `amount`. A concurrent change fails the condition: plan again."""
    item = CounterModel(counter_id)
    actions: list[Any] = [
        CounterModel.total.set(read_total + amount),
        CounterModel.until.set(until),
        CounterModel.expires_at.set(_ttl(until)),
    ]
    if read_total:
        guard = (CounterModel.total == read_total) & (CounterModel.until > now_epoch)
    else:
        guard = CounterModel.counter_id.does_not_exist() | (CounterModel.until <= now_epoch)
    tx.update(tag, item, actions=actions, condition=guard)


def _ttl(until: float) -> datetime:
    return datetime.fromtimestamp(until, UTC) + timedelta(days=1)
