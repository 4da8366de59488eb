"""Referral records (邀请有礼) and the person claims of their rewards.

A record is put once per invitee (attribute_not_exists): the one binding. Every later move of
its status is conditioned on the status it was read in, so two runs that race move it once.
The reward's writes (status → rewarded, the person claims) are staged into the points
transaction that pays both sides (services/referrals.py), never written on their own.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from dataclasses import replace
from datetime import date
from itertools import islice
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.referrals import Referral, ReferralStatus, RefusalReason
from chalicelib.settings import get_settings
from chalicelib.store import jobs_repo
from chalicelib.store.errors import condition_failed
from chalicelib.store.models import CounterModel, ReferralModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

DUE_SHARDS = 8
TAG = "referral"
Cursor = dict[str, Any] | None
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{8,15}Z")
_MEMBER_ID = re.compile(r"[A-Za-z0-9_\-]{1,64}")


def due_shard(invitee_id: str) -> str:
    return str(zlib.crc32(invitee_id.encode()) % DUE_SHARDS)


def get(invitee_id: str) -> Referral | None:
    try:
        return _from_model(ReferralModel.get(invitee_id, consistent_read=True))
    except ReferralModel.DoesNotExist:
        return None


def bind(referral: Referral) -> bool:
    """The one binding of the invitee: False when they were bound before (to anyone)."""
    try:
        _to_model(referral).save(condition=ReferralModel.invitee_id.does_not_exist())
        return True
    except PutError as error:
        if condition_failed(error):
            return False
        raise


def move(merged_id: str, survivor_id: str) -> bool:
    """A merged invitee's referral (会员合并) becomes the survivor's, unless it has its own:
    put under the survivor's id if absent and taken from the merged id, in one transaction."""
    found = get(merged_id)
    if found is None:
        return False
    tx = UnitOfWork(get_settings().region)
    tx.put(TAG, _to_model(replace(found, invitee_id=survivor_id)), ReferralModel.invitee_id.does_not_exist())
    tx.delete("merged", ReferralModel(merged_id), condition=ReferralModel.status == found.status.value)
    try:
        tx.commit()
        return True
    except TransactionFailed as failure:
        if failure.refused:
            return False
        raise


def mark_due(invitee_id: str, order_id: str, settles_on: date) -> bool:
    """The first order of a bound invitee: due on `settles_on` (into the sparse due index)."""
    actions = [
        ReferralModel.status.set(ReferralStatus.DUE.value),
        ReferralModel.first_order_id.set(order_id),
        ReferralModel.settles_on.set(settles_on.isoformat()),
        ReferralModel.due_shard.set(due_shard(invitee_id)),
    ]
    return _update_if(invitee_id, actions, ReferralModel.status == ReferralStatus.BOUND.value)


def reopen(invitee_id: str, order_id: str) -> bool:
    """The first order was fully refunded: bound again, waiting for the next order."""
    actions = [
        ReferralModel.status.set(ReferralStatus.BOUND.value),
        ReferralModel.first_order_id.remove(),
        ReferralModel.settles_on.remove(),
        ReferralModel.due_shard.remove(),
    ]
    guard = (ReferralModel.status == ReferralStatus.DUE.value) & (ReferralModel.first_order_id == order_id)
    return _update_if(invitee_id, actions, guard)


def settle(invitee_id: str) -> bool:
    """The first order has passed its window; the invitee has no phone yet (off the due index)."""
    actions = [ReferralModel.status.set(ReferralStatus.SETTLED.value), ReferralModel.due_shard.remove()]
    return _update_if(invitee_id, actions, ReferralModel.status == ReferralStatus.DUE.value)


def retry_later(referral: Referral, day: date) -> bool:
    """A reward that failed (the store was busy): into the due index for `day`, so the job
    tries again; a due referral is there already."""
    actions = [
        ReferralModel.settles_on.set(day.isoformat()),
        ReferralModel.due_shard.set(due_shard(referral.invitee_id)),
    ]
    guard = (ReferralModel.status == referral.status.value) & (ReferralModel.status != ReferralStatus.DUE.value)
    return _update_if(referral.invitee_id, actions, guard)


def unindex(invitee_id: str) -> bool:
    """A retried referral the job could not pay yet: off the due index (only a due one stays)."""
    guard = ReferralModel.status != ReferralStatus.DUE.value
    return _update_if(invitee_id, [ReferralModel.due_shard.remove()], guard)


def refuse(referral: Referral, reason: RefusalReason) -> bool:
    actions = [
        ReferralModel.status.set(ReferralStatus.REFUSED.value),
        ReferralModel.reason.set(reason.value),
        ReferralModel.due_shard.remove(),
    ]
    return _update_if(referral.invitee_id, actions, ReferralModel.status == referral.status.value)


def stage_rewarded(tx: UnitOfWork, referral: Referral, at: str, referrer_points: int, invitee_points: int) -> None:
    """In the reward's transaction: the record moves from the status the plan read."""
    actions = [
        ReferralModel.status.set(ReferralStatus.REWARDED.value),
        ReferralModel.rewarded_at.set(at),
        ReferralModel.referrer_points.set(referrer_points),
        ReferralModel.invitee_points.set(invitee_points),
        ReferralModel.due_shard.remove(),
    ]
    guard = ReferralModel.status == referral.status.value
    tx.update(TAG, ReferralModel(referral.invitee_id), actions=actions, condition=guard)


def claimed(claim_ids: list[str]) -> set[str]:
    """The person claims already taken (one BatchGetItem)."""
    if not claim_ids:
        return set()
    return {item.counter_id for item in CounterModel.batch_get(claim_ids, consistent_read=True)}


def stage_claims(tx: UnitOfWork, claim_ids: list[str]) -> None:
    """Each put only if absent (tags `claim:<n>`): a person is rewarded once as an invitee.
    No window, no TTL: a claim is kept for the programme's life."""
    for index, claim_id in enumerate(claim_ids):
        tx.put(f"claim:{index}", CounterModel(claim_id, total=1), condition=CounterModel.counter_id.does_not_exist())


def due(shard: int, day: date, cursor: Cursor, limit: int) -> tuple[list[str], Cursor]:
    """Invitee ids of one shard whose first order settles on or before `day`."""
    results = ReferralModel.by_due.query(
        str(shard), ReferralModel.settles_on <= day.isoformat(), limit=limit, last_evaluated_key=cursor, page_size=limit
    )
    items, last = jobs_repo.page(results, limit)
    return [item.invitee_id for item in items], last


def of_referrer(referrer_id: str, limit: int, cursor: str | None) -> tuple[list[Referral], str | None]:
    """The referrer's invitees, newest first; the cursor is opaque to clients."""
    results = ReferralModel.by_referrer.query(
        referrer_id,
        scan_index_forward=False,
        limit=limit,
        last_evaluated_key=_decode_cursor(cursor, referrer_id) if cursor else None,
    )
    found = [_from_model(item) for item in islice(results, limit)]
    last = results.last_evaluated_key if len(found) == limit else None
    return found, _encode_cursor(last) if last else None


def _encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str, referrer_id: str) -> dict[str, Any]:
    """Only a key this listing could have handed out, for this referrer (as points_repo does)."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, RecursionError) as error:
        raise InvalidInput("cursor is not valid", field="cursor") from error
    if not _is_listing_key(key, referrer_id):
        raise InvalidInput("cursor is not valid", field="cursor")
    return dict(key)


def _is_listing_key(key: Any, referrer_id: str) -> bool:
    """`{"referrer_id": {"S": <me>}, "bound_at": {"S": <iso>}, "invitee_id": {"S": <id>}}`, exactly."""
    if not isinstance(key, dict) or set(key) != {"referrer_id", "bound_at", "invitee_id"}:
        return False
    if key["referrer_id"] != {"S": referrer_id}:
        return False
    return _is_string(key["bound_at"], _ISO) and _is_string(key["invitee_id"], _MEMBER_ID)


def _is_string(value: Any, shape: re.Pattern[str]) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"S"}
        and isinstance(value["S"], str)
        and shape.fullmatch(value["S"]) is not None
    )


def _update_if(invitee_id: str, actions: list[Any], condition: Any) -> bool:
    try:
        ReferralModel(invitee_id).update(actions=actions, condition=ReferralModel.invitee_id.exists() & condition)
        return True
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise


def _to_model(referral: Referral) -> ReferralModel:
    due = referral.status == ReferralStatus.DUE and referral.settles_on is not None
    return ReferralModel(
        referral.invitee_id,
        referrer_id=referral.referrer_id,
        code=referral.code,
        via=referral.via,
        bound_at=referral.bound_at,
        status=referral.status.value,
        reason=referral.reason.value if referral.reason else None,
        first_order_id=referral.first_order_id,
        settles_on=referral.settles_on.isoformat() if referral.settles_on else None,
        due_shard=due_shard(referral.invitee_id) if due else None,
        rewarded_at=referral.rewarded_at,
        referrer_points=referral.referrer_points or None,
        invitee_points=referral.invitee_points or None,
    )


def _from_model(item: ReferralModel) -> Referral:
    return Referral(
        invitee_id=item.invitee_id,
        referrer_id=item.referrer_id,
        code=item.code,
        via=item.via,
        bound_at=item.bound_at,
        status=ReferralStatus(item.status),
        reason=RefusalReason(item.reason) if item.reason else None,
        first_order_id=item.first_order_id,
        settles_on=date.fromisoformat(item.settles_on) if item.settles_on else None,
        rewarded_at=item.rewarded_at,
        referrer_points=int(item.referrer_points or 0),
        invitee_points=int(item.invitee_points or 0),
    )
