"""Domain events (领域事件): something that happened, for the notification sender and the
background tasks. Written to the outbox in the transaction of their cause (store/outbox_repo.py),
queued by the relay, sent by the events worker.

An event id derives from the idempotency key of the write that caused it (`order:42#points.earned`,
`birthday:m_1:2026`), so a retried request, a replayed callback or a re-run job yields the same
id again, and the sender, which records one delivery per (event id, channel), sends it once.
`correlation_id` follows the request that caused the event through the queue into the logs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DomainEvent:
    """`kind` is e.g. `points.expired`, `member.welcome`, or `task.mp_user_sync` for work that
    must leave the request path (WeChat API calls)."""

    event_id: str
    kind: str
    member_id: str | None
    occurred_at: str
    data: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, body: str) -> DomainEvent:
        raw = json.loads(body)
        if not isinstance(raw, dict):
            raise ValueError("event body is not a JSON object")
        return cls(
            event_id=str(raw["event_id"]),
            kind=str(raw["kind"]),
            member_id=None if raw.get("member_id") is None else str(raw["member_id"]),
            occurred_at=str(raw["occurred_at"]),
            data=dict(raw.get("data") or {}),
            correlation_id=None if raw.get("correlation_id") is None else str(raw["correlation_id"]),
        )
