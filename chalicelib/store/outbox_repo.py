"""The transactional outbox (事务发件箱): events are written with their cause, never published
after the commit. The relay (`notify/relay.py`) reads the outbox table's stream and queues them.

An event id derives from the idempotency key of its cause, so a re-staged event (a replayed
request that commits again, which the ledger's keys prevent) overwrites the same item: the
stream shows it as a MODIFY, which the relay does not queue a second time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib.domain.events import DomainEvent
from chalicelib.observability import current_correlation_id
from chalicelib.settings import get_settings
from chalicelib.store.models import OutboxModel
from chalicelib.store.tx import UnitOfWork

KEEP = timedelta(days=1)  # long after the stream (24 h retention) has handed the event on


def stage(uow: UnitOfWork, event: DomainEvent) -> None:
    uow.put(f"event:{event.event_id}", _item(event))


def write(events: list[DomainEvent]) -> None:
    """Events with no transactional cause of their own (a callback's follow-up task): one
    transaction of outbox items, so they are all recorded or none is."""
    for start in range(0, len(events), 100):
        uow = UnitOfWork(get_settings().region)
        for event in events[start : start + 100]:
            stage(uow, event)
        uow.commit()


def event_from_image(image: dict[str, Any]) -> DomainEvent:
    """A stream record's NewImage (DynamoDB JSON) → the event."""
    item = OutboxModel.from_raw_data(image)
    return DomainEvent(
        event_id=item.event_id,
        kind=item.kind,
        member_id=item.member_id,
        occurred_at=item.occurred_at,
        data=dict(item.data or {}),
        correlation_id=item.correlation_id,
    )


def _item(event: DomainEvent) -> OutboxModel:
    item = OutboxModel(
        event.event_id,
        kind=event.kind,
        member_id=event.member_id,
        occurred_at=event.occurred_at,
        data=event.data or None,
        correlation_id=event.correlation_id or current_correlation_id(),
    )
    item.expires_at = KEEP
    return item
