"""WeChat callbacks already handled, with their replies (`callbacks` table, TTL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.store.errors import condition_failed
from chalicelib.store.models import CallbackModel

PENDING, DONE = "pending", "done"


@dataclass(frozen=True)
class Handled:
    status: str  # pending | done
    claimed_at: int
    reply: str | None


def claim(dedup_key: str, now: int, stale_after: int, keep: timedelta) -> Handled | None:
    """None when this caller now owns the callback: it is new, or its earlier handler has been
    pending longer than `stale_after` seconds (it died; its effects are idempotent, so running
    them again is safe). Otherwise what the earlier handler left."""
    item = CallbackModel(dedup_key, status=PENDING, claimed_at=now)
    item.expires_at = keep  # TTLAttribute takes a timedelta from now
    stale = (CallbackModel.status == PENDING) & (CallbackModel.claimed_at < now - stale_after)
    try:
        item.save(condition=CallbackModel.dedup_key.does_not_exist() | stale)
        return None
    except PutError as error:
        if not condition_failed(error):
            raise
    return get(dedup_key)


def get(dedup_key: str) -> Handled | None:
    try:
        item = CallbackModel.get(dedup_key, consistent_read=True)
    except CallbackModel.DoesNotExist:
        return None
    return Handled(item.status, int(item.claimed_at), item.reply)


def finish(dedup_key: str, claimed_at: int, reply: str | None) -> None:
    """Record the reply, only on our own claim (a takeover after we stalled has its own)."""
    actions: list[Any] = [CallbackModel.status.set(DONE)]
    actions.append(CallbackModel.reply.set(reply) if reply else CallbackModel.reply.remove())
    try:
        CallbackModel(dedup_key).update(actions=actions, condition=CallbackModel.claimed_at == claimed_at)
    except UpdateError as error:  # a lost claim is fine: the handler that took over records its reply
        if not condition_failed(error):
            raise


def release(dedup_key: str, claimed_at: int) -> None:
    """Forget a claim whose handler failed, so WeChat's retry runs it again."""
    try:
        CallbackModel(dedup_key).delete(condition=CallbackModel.claimed_at == claimed_at)
    except DeleteError as error:
        if not condition_failed(error):
            raise
