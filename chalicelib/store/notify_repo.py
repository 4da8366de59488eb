"""Deliveries (one per event and audience) and subscribe-message consents (订阅消息授权)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.domain.deliveries import DeliveryStatus
from chalicelib.retry import backoff
from chalicelib.settings import get_settings
from chalicelib.store.errors import condition_failed
from chalicelib.store.models import CampaignModel, ConsentModel, DeliveryModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

NEW, SENDING, FAILED = DeliveryStatus.NEW, DeliveryStatus.SENDING, DeliveryStatus.FAILED
_TX_ATTEMPTS = 8


@dataclass(frozen=True)
class Claim:
    """`taken`: `"new"`, or `"failed"` for a delivery that failed for good and is tried again
    (DLQ redrive): the caller may send. None: the caller must not send; `found` is the
    delivery as it stands (`status` sending, sent, skipped or failed; `created_at`; `detail`)."""

    taken: DeliveryStatus | None
    found: dict[str, Any] | None = None


def _put(item: DeliveryModel, condition: Any) -> bool:
    try:
        item.save(condition=condition)
        return True
    except PutError as error:
        if condition_failed(error):
            return False
        raise


def _commit(build: Callable[[], UnitOfWork], tag: str) -> bool:
    """Commit, retrying contention with jittered backoff (many deliveries of one campaign
    count on one item). False when the item tagged `tag` failed its condition."""
    for attempt in range(_TX_ATTEMPTS):
        try:
            build().commit()
            return True
        except TransactionFailed as failure:
            if failure.failed(tag):
                return False
            if not failure.retryable or attempt == _TX_ATTEMPTS - 1:
                raise
            backoff(attempt, base=0.02, cap=1.0)
    raise AssertionError("unreachable")


def claim_delivery(
    delivery_id: str, member_id: str | None, now: str, keep: timedelta, note: dict[str, Any] | None = None
) -> Claim:
    """Claim the right to send with a conditional put (`note` starts the item's detail). One
    request on a first attempt; a redelivery reads what is there."""
    item = DeliveryModel(delivery_id, member_id=member_id, status=SENDING, created_at=now, detail=note)
    item.expires_at = keep  # TTLAttribute takes a timedelta from now
    if _put(item, DeliveryModel.delivery_id.does_not_exist()):
        return Claim(NEW)
    found = get_delivery(delivery_id)
    if found is None:  # released after a transient failure since our put: try once more
        if _put(item, DeliveryModel.delivery_id.does_not_exist()):
            return Claim(NEW)
        return Claim(None, get_delivery(delivery_id))
    if _retryable_failure(found, note):
        item.detail = {**(note or {}), "previous": FAILED}  # a crash before the outcome must know
        if _put(item, DeliveryModel.status == FAILED):
            return Claim(FAILED, found)
    return Claim(None, found)


def _retryable_failure(found: dict[str, Any], note: dict[str, Any] | None) -> bool:
    """A failure may be sent again, except one whose outcome is unknown (it may have reached
    the member), or a copy queued from another audience partition."""
    detail = found["detail"]
    same_origin = detail.get("part") == (note or {}).get("part")
    return found["status"] == FAILED and same_origin and not detail.get("unconfirmed")


def finish_delivery(
    delivery_id: str,
    status: DeliveryStatus,
    detail: dict[str, Any],
    *,
    campaign_id: str | None = None,
    previous: str = NEW,
    claimed_at: str | None = None,
) -> bool:
    """Record the outcome of a claim (the one made at `claimed_at`, when given). For a campaign
    message the outcome is counted in the same transaction, so sent / failed / skipped are
    exact under redelivery (a retried failure moves its count from `failed`). False when the
    delivery was no longer in progress: nothing is recorded or counted twice."""
    condition = DeliveryModel.status == SENDING
    if claimed_at is not None:
        condition &= DeliveryModel.created_at == claimed_at
    actions: list[Action] = [DeliveryModel.status.set(status), DeliveryModel.detail.set(detail)]
    if campaign_id is None:
        try:
            DeliveryModel(delivery_id).update(actions=actions, condition=condition)
            return True
        except UpdateError as error:
            if condition_failed(error):
                return False
            raise
    changes = {status: 1}
    if previous == FAILED:
        changes[FAILED] = changes.get(FAILED, 0) - 1
    counts = [getattr(CampaignModel, name).add(n) for name, n in changes.items() if n]

    def build() -> UnitOfWork:
        tx = UnitOfWork(get_settings().region)
        tx.update("delivery", DeliveryModel(delivery_id), actions=actions, condition=condition)
        if counts:
            tx.update("campaign", CampaignModel(campaign_id), actions=counts)
        return tx

    return _commit(build, "delivery")


def uncount_duplicate(delivery_id: str, campaign_id: str, part: int, now: str, keep: timedelta) -> bool:
    """A campaign message queued a second time from another audience partition (the member's
    tier changed during the fan-out): take it off the campaign's queued count, once."""
    marker = DeliveryModel(f"{delivery_id}#dup{part}", status=DeliveryStatus.DUPLICATE, created_at=now)
    marker.expires_at = keep

    def build() -> UnitOfWork:
        tx = UnitOfWork(get_settings().region)
        tx.put("marker", marker, condition=DeliveryModel.delivery_id.does_not_exist())
        tx.update("campaign", CampaignModel(campaign_id), actions=[CampaignModel.queued.add(-1)])
        return tx

    return _commit(build, "marker")


def release_delivery(delivery_id: str, previous: str = NEW) -> None:
    """Undo a claim after a transient failure, so the redelivery may send."""
    try:
        if previous == FAILED:
            DeliveryModel(delivery_id).update(
                actions=[DeliveryModel.status.set(FAILED)], condition=DeliveryModel.status == SENDING
            )
        else:
            DeliveryModel(delivery_id).delete(condition=DeliveryModel.status == SENDING)
    except (DeleteError, UpdateError) as error:
        if not condition_failed(error):
            raise


def get_delivery(delivery_id: str) -> dict[str, Any] | None:
    try:
        item = DeliveryModel.get(delivery_id, consistent_read=True)
    except DeliveryModel.DoesNotExist:
        return None
    return {
        "status": item.status,
        "member_id": item.member_id,
        "created_at": item.created_at,
        "detail": dict(item.detail or {}),
    }


def consume_consent(member_id: str, template_id: str) -> bool:
    """Take one consent; False when there is none. Never goes below zero."""
    try:
        ConsentModel(member_id, template_id).update(
            actions=[ConsentModel.remaining.add(-1)], condition=ConsentModel.remaining > 0
        )
        return True
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise


def return_consent(member_id: str, template_id: str) -> None:
    ConsentModel(member_id, template_id).update(actions=[ConsentModel.remaining.add(1)])


def consents(member_id: str) -> dict[str, int]:
    return {item.template_id: int(item.remaining) for item in ConsentModel.query(member_id, consistent_read=True)}


def add_consents_once(
    request_id: str, member_id: str, template_ids: list[str], fingerprint: str, now: str, keep: timedelta
) -> bool:
    """Add one consent per template and record the request (in the deliveries table, under
    `consent:<member>:<key>`, kept `keep`), in one transaction. False (and nothing added) when
    the request was applied before; raises IdempotencyConflict when the same request id came
    with a different body."""
    from chalicelib.domain.errors import IdempotencyConflict

    marker = DeliveryModel(request_id, member_id=member_id, status=DeliveryStatus.APPLIED, created_at=now)
    marker.detail = {"fingerprint": fingerprint}
    marker.expires_at = keep

    def build() -> UnitOfWork:
        tx = UnitOfWork(get_settings().region)
        tx.put("marker", marker, condition=DeliveryModel.delivery_id.does_not_exist())
        for n, template_id in enumerate(template_ids):
            actions = [ConsentModel.remaining.add(1), ConsentModel.updated_at.set(now)]
            tx.update(f"consent{n}", ConsentModel(member_id, template_id), actions=actions)
        return tx

    if _commit(build, "marker"):
        return True
    previous = get_delivery(request_id) or {}
    if previous.get("detail", {}).get("fingerprint") != fingerprint:
        raise IdempotencyConflict("idempotency key was used for a different request", field="Idempotency-Key")
    return False
