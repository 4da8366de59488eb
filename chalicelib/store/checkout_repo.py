"""Checkout persistence: the checkout item, staged into the caller's unit of work (the points
engine's transaction at confirm, cancel and refund), every change guarded by the version read."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib.domain.checkout import Checkout, CheckoutStatus, from_state, to_state
from chalicelib.store.errors import condition_failed
from chalicelib.store.models import CheckoutModel
from chalicelib.store.tx import UnitOfWork

CHECKOUT_TAG = "checkout"
HELD_SHARDS = 4


def get(order_id: str) -> Checkout | None:
    try:
        item = CheckoutModel.get(order_id, consistent_read=True)
    except CheckoutModel.DoesNotExist:
        return None
    return _from_model(item)


def find_by_trade_no(trade_no: str) -> Checkout | None:
    for item in CheckoutModel.by_trade_no.query(trade_no, limit=1):
        return get(item.order_id)
    return None


def stage_new(tx: UnitOfWork, checkout: Checkout) -> None:
    tx.put(CHECKOUT_TAG, _to_model(checkout), condition=CheckoutModel.order_id.does_not_exist())


def stage_update(tx: UnitOfWork, before: Checkout, after: Checkout) -> None:
    """`after` replaces `before`, only if the item is still at `before`'s version."""
    item = _to_model(after)
    guard = CheckoutModel.version == before.version
    tx.put(CHECKOUT_TAG, item, condition=guard)


def set_prepay(checkout: Checkout, prepay_id: str, timestamp: str, nonce: str) -> Checkout:
    """The WeChat Pay order of a held checkout: once (a racing retry keeps the first)."""
    after = replace(
        checkout, prepay_id=prepay_id, pay_timestamp=timestamp, pay_nonce=nonce, version=checkout.version + 1
    )
    try:
        _to_model(after).save(condition=(CheckoutModel.version == checkout.version))
    except PutError as error:
        if not condition_failed(error):
            raise
        found = get(checkout.order_id)
        return found if found is not None else checkout
    return after


def due_held(until: str) -> Iterator[str]:
    """Order ids of held checkouts whose hold ends before `until`."""
    for shard in range(HELD_SHARDS):
        for item in CheckoutModel.by_held.query(str(shard), CheckoutModel.held_until < until):
            yield item.order_id


def of_member(member_id: str) -> list[Checkout]:
    """A member's checkouts (the privacy export; never on a request path)."""
    ids = [item.order_id for item in CheckoutModel.by_member.query(member_id)]
    return [found for found in map(get, ids) if found is not None]


def _to_model(checkout: Checkout) -> CheckoutModel:
    held = checkout.status == CheckoutStatus.HELD and checkout.expires_at is not None
    extra: dict[str, Any] = {}
    if held:
        extra = {
            "held_shard": str(zlib.crc32(checkout.order_id.encode()) % HELD_SHARDS),
            "held_until": checkout.expires_at,
        }
    return CheckoutModel(
        checkout.order_id,
        member_id=checkout.member_id,
        pos_client=checkout.pos_client,
        status=str(checkout.status),
        version=checkout.version,
        created_at=checkout.created_at,
        state=to_state(checkout),
        trade_no=checkout.trade_no,
        **extra,
    )


def _from_model(item: CheckoutModel) -> Checkout:
    return from_state(
        item.order_id,
        item.member_id,
        item.pos_client,
        item.status,
        int(item.version),
        item.created_at,
        dict(item.state),
    )
