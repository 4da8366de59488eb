"""Deliveries (one per event and audience) and subscribe-message consents (订阅消息授权)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib.store.models import ConsentModel, DeliveryModel


def _condition_failed(error: PutError | UpdateError | DeleteError) -> bool:
    return error.cause_response_code == "ConditionalCheckFailedException"


def claim_delivery(delivery_id: str, member_id: str | None, now: str, keep: timedelta) -> bool:
    """True when this caller may send; False when the delivery was already claimed or made."""
    item = DeliveryModel(delivery_id, member_id=member_id, status="sending", created_at=now)
    item.expires_at = keep  # TTLAttribute takes a timedelta from now
    try:
        item.save(condition=DeliveryModel.delivery_id.does_not_exist())
        return True
    except PutError as error:
        if _condition_failed(error):
            return False
        raise


def finish_delivery(delivery_id: str, status: str, detail: dict[str, Any]) -> None:
    DeliveryModel(delivery_id).update(
        actions=[DeliveryModel.status.set(status), DeliveryModel.detail.set(detail)],
        condition=DeliveryModel.status == "sending",
    )


def release_delivery(delivery_id: str) -> None:
    """Undo a claim after a transient failure, so the redelivery may send."""
    try:
        DeliveryModel(delivery_id).delete(condition=DeliveryModel.status == "sending")
    except DeleteError as error:
        if not _condition_failed(error):
            raise


def get_delivery(delivery_id: str) -> dict[str, Any] | None:
    try:
        item = DeliveryModel.get(delivery_id, consistent_read=True)
    except DeliveryModel.DoesNotExist:
        return None
    return {"status": item.status, "member_id": item.member_id, "detail": dict(item.detail or {})}


def consume_consent(member_id: str, template_id: str) -> bool:
    """Take one consent; False when there is none. Never goes below zero."""
    try:
        ConsentModel(member_id, template_id).update(
            actions=[ConsentModel.remaining.add(-1)], condition=ConsentModel.remaining > 0
        )
        return True
    except UpdateError as error:
        if _condition_failed(error):
            return False
        raise


def return_consent(member_id: str, template_id: str) -> None:
    ConsentModel(member_id, template_id).update(actions=[ConsentModel.remaining.add(1)])


def consents(member_id: str) -> dict[str, int]:
    return {item.template_id: int(item.remaining) for item in ConsentModel.query(member_id, consistent_read=True)}


def add_consents_once(request_id: str, member_id: str, template_ids: list[str], fingerprint: str, now: str) -> bool:
    """Add one consent per template and record the request, in one transaction. False (and
    nothing added) when the request was applied before; raises IdempotencyConflict when the
    same request id came with a different body."""
    from chalicelib.domain.errors import IdempotencyConflict
    from chalicelib.settings import get_settings
    from chalicelib.store.tx import TaggedTransaction, TransactionFailed

    tx = TaggedTransaction(get_settings().region)
    marker = DeliveryModel(request_id, member_id=member_id, status="applied", created_at=now)
    marker.detail = {"fingerprint": fingerprint}
    tx.put("marker", marker, condition=DeliveryModel.delivery_id.does_not_exist())
    for template_id in template_ids:
        consent = ConsentModel(member_id, template_id)
        tx.update(template_id, consent, actions=[ConsentModel.remaining.add(1), ConsentModel.updated_at.set(now)])
    try:
        tx.commit()
        return True
    except TransactionFailed as failure:
        if not failure.failed("marker"):
            raise
    previous = get_delivery(request_id) or {}
    if previous.get("detail", {}).get("fingerprint") != fingerprint:
        raise IdempotencyConflict("idempotency key was used for a different request", field="Idempotency-Key")
    return False
