"""The transactional outbox."""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class OutboxModel(Model):
    """The transactional outbox: one item per domain event, written in the transaction of the
    change that causes it. The table's stream (new images) feeds the relay that queues the
    events on SQS; the items expire by TTL a day later."""

    class Meta(_Meta):
        table_name = _settings.table_name("outbox")
        stream_view_type = "NEW_IMAGE"

    event_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    member_id = UnicodeAttribute(null=True)
    occurred_at = UnicodeAttribute()
    data = JSONAttribute(null=True)
    correlation_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
