"""Top-ups, their refunds and WeChat Pay's notifications (储值充值 / 退款 / 支付通知).

A top-up moves pending → paid or pending → closed once, under a condition on `pending` (and,
when paid, on having no transaction_id yet): whichever of the notification, a resent copy of
it and the settle job comes second finds the condition refused and credits nothing. Refund
tallies on the top-up move under a condition on the tallies read.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.models import Model

from chalicelib.clock import iso
from chalicelib.domain.topups import Topup, WalletRefund
from chalicelib.domain.wallet import RefundStatus, TopupRefunds, TopupStatus
from chalicelib.store.errors import condition_failed
from chalicelib.store.models import PayNotificationModel, TopupModel, WalletRefundModel
from chalicelib.store.tx import UnitOfWork

OPEN_SHARDS = 4
NOTIFICATION_KEEP = timedelta(days=180)  # past any dispute over a payment WeChat Pay reported
TOPUP_TAG = "topup"
REFUND_TAG = "refund"


def _shard(item_id: str) -> str:
    return f"open#{zlib.crc32(item_id.encode()) % OPEN_SHARDS}"


# Top-ups.
def get_topup(topup_id: str) -> Topup | None:
    try:
        item = TopupModel.get(topup_id, consistent_read=True)
    except TopupModel.DoesNotExist:
        return None
    return _topup_from_model(item)


def _topup_from_model(item: TopupModel) -> Topup:
    fields = {name: getattr(item, name) for name in Topup.__dataclass_fields__}
    return Topup(**{**fields, **_ints(item, _TOPUP_NUMBERS), "status": TopupStatus(item.status)})


def stage_new_topup(tx: UnitOfWork, topup: Topup) -> None:
    item = TopupModel(topup.topup_id, **_plain(topup, exclude=("topup_id",)), open_shard=_shard(topup.topup_id))
    tx.put(TOPUP_TAG, item, condition=TopupModel.topup_id.does_not_exist())


def set_prepay(topup: Topup, prepay_id: str, timestamp: str, nonce: str) -> Topup:
    """The WeChat Pay order's prepay id and the requestPayment parameters: once (a retried
    request that raced this one keeps the first)."""
    actions: list[Any] = [
        TopupModel.prepay_id.set(prepay_id),
        TopupModel.pay_timestamp.set(timestamp),
        TopupModel.pay_nonce.set(nonce),
    ]
    try:
        guard = TopupModel.topup_id.exists() & TopupModel.prepay_id.does_not_exist()
        TopupModel(topup.topup_id).update(actions=actions, condition=guard)
    except UpdateError as error:
        if not condition_failed(error):
            raise
        found = get_topup(topup.topup_id)
        return found if found is not None else topup
    return replace(topup, prepay_id=prepay_id, pay_timestamp=timestamp, pay_nonce=nonce)


def stage_paid(tx: UnitOfWork, topup: Topup, transaction_id: str, paid_at: str, settled_by: str) -> None:
    actions = [
        TopupModel.status.set(str(TopupStatus.PAID)),
        TopupModel.transaction_id.set(transaction_id),
        TopupModel.paid_at.set(paid_at),
        TopupModel.settled_by.set(settled_by),
        TopupModel.open_shard.remove(),
    ]
    # From the status read (pending, or closed as unpaid before WeChat Pay's word came), once.
    guard = (TopupModel.status == str(topup.status)) & TopupModel.transaction_id.does_not_exist()
    tx.update(TOPUP_TAG, TopupModel(topup.topup_id), actions=actions, condition=guard)


def stage_closed(tx: UnitOfWork, topup: Topup, at: str) -> None:
    actions = [
        TopupModel.status.set(str(TopupStatus.CLOSED)),
        TopupModel.closed_at.set(at),
        TopupModel.open_shard.remove(),
    ]
    tx.update(TOPUP_TAG, TopupModel(topup.topup_id), actions=actions, condition=_pending())


def stage_refund_tallies(tx: UnitOfWork, topup: Topup, before: TopupRefunds, after: TopupRefunds) -> None:
    actions = [
        TopupModel.refunded_principal_fen.set(after.refunded_principal_fen),
        TopupModel.bonus_due_fen.set(after.bonus_due_fen),
    ]
    guard = (
        (TopupModel.status == str(TopupStatus.PAID))
        & (TopupModel.refunded_principal_fen == before.refunded_principal_fen)
        & (TopupModel.bonus_due_fen == before.bonus_due_fen)
    )
    tx.update(TOPUP_TAG, TopupModel(topup.topup_id), actions=actions, condition=guard)


def stage_repoint(tx: UnitOfWork, topup: Topup, from_id: str, to_id: str) -> None:
    """A pending top-up follows its reservation to the survivor of a merge (会员合并), so the
    credit lands where the pending amount is counted; only while still pending and still the
    merged member's. Tagged `topup:<id>`."""
    guard = _pending() & (TopupModel.member_id == from_id)
    tx.update(f"{TOPUP_TAG}:{topup.topup_id}", TopupModel(topup.topup_id), [TopupModel.member_id.set(to_id)], guard)


def _pending() -> Any:
    return TopupModel.status == str(TopupStatus.PENDING)


def pending_of_member(member_id: str, since: str | None = None) -> list[Topup]:
    """The member's pending top-ups created since `since` (all of them without), newest first:
    a query of their own top-ups, no scan. A pending top-up is young (the settle job closes it
    once expired), so a recent `since` bounds what is read."""
    condition = TopupModel.created_at >= since if since else None
    found = TopupModel.by_member.query(
        member_id, range_key_condition=condition, scan_index_forward=False, filter_condition=_pending()
    )
    return [_topup_from_model(item) for item in found]


def of_member(member_id: str) -> list[Topup]:
    """All the member's top-ups, oldest first (the privacy export)."""
    return [_topup_from_model(item) for item in TopupModel.by_member.query(member_id)]


def refunds_of_member(member_id: str) -> list[WalletRefund]:
    return [_refund_from_model(item) for item in WalletRefundModel.by_member.query(member_id)]


def recent_of_member(member_id: str, limit: int) -> list[Topup]:
    """The member's latest `limit` top-ups, newest first: one bounded Query (the admin view)."""
    found = TopupModel.by_member.query(member_id, scan_index_forward=False, limit=limit)
    return [_topup_from_model(item) for item in islice(found, limit)]


def recent_refunds_of_member(member_id: str, limit: int) -> list[WalletRefund]:
    found = WalletRefundModel.by_member.query(member_id, scan_index_forward=False, limit=limit)
    return [_refund_from_model(item) for item in islice(found, limit)]


def due_topups(created_before: str) -> Iterator[str]:
    """Ids of the top-ups still pending that were created before the cut-off (sparse index)."""
    for shard in range(OPEN_SHARDS):
        condition = TopupModel.created_at <= created_before
        for item in TopupModel.by_open.query(f"open#{shard}", range_key_condition=condition):
            yield item.topup_id


# Refunds.
def get_refund(refund_id: str) -> WalletRefund | None:
    try:
        item = WalletRefundModel.get(refund_id, consistent_read=True)
    except WalletRefundModel.DoesNotExist:
        return None
    return _refund_from_model(item)


def _refund_from_model(item: WalletRefundModel) -> WalletRefund:
    fields = {name: getattr(item, name) for name in WalletRefund.__dataclass_fields__}
    return WalletRefund(**{**fields, **_ints(item, _REFUND_NUMBERS), "status": RefundStatus(item.status)})


def stage_new_refund(tx: UnitOfWork, refund: WalletRefund) -> None:
    item = WalletRefundModel(
        refund.refund_id, **_plain(refund, exclude=("refund_id",)), open_shard=_shard(refund.refund_id)
    )
    tx.put(REFUND_TAG, item, condition=WalletRefundModel.refund_id.does_not_exist())


def stage_refund_status(
    tx: UnitOfWork, refund: WalletRefund, status: RefundStatus, at: str, wechat_refund_id: str | None
) -> None:
    """From the status read to the next; a final one leaves the open index."""
    actions = [WalletRefundModel.status.set(str(status)), WalletRefundModel.updated_at.set(at)]
    if wechat_refund_id:
        actions.append(WalletRefundModel.wechat_refund_id.set(wechat_refund_id))
    if status.final:
        actions += [WalletRefundModel.finished_at.set(at), WalletRefundModel.open_shard.remove()]
    guard = WalletRefundModel.status == str(refund.status)
    tx.update(REFUND_TAG, WalletRefundModel(refund.refund_id), actions=actions, condition=guard)


def due_refunds(created_before: str) -> Iterator[str]:
    for shard in range(OPEN_SHARDS):
        condition = WalletRefundModel.created_at <= created_before
        for item in WalletRefundModel.by_open.query(f"open#{shard}", range_key_condition=condition):
            yield item.refund_id


# Notifications.
def record_notification(notification_id: str, event_type: str, envelope: str, now: datetime) -> bool:
    """The envelope under its id: True the first time, False for a resent copy (counted)."""
    item = PayNotificationModel(
        notification_id,
        event_type=event_type,
        envelope=envelope,
        received_at=iso(now),
        expires_at=now + NOTIFICATION_KEEP,
    )
    try:
        item.save(condition=PayNotificationModel.notification_id.does_not_exist())
        return True
    except PutError as error:
        if not condition_failed(error):
            raise
    PayNotificationModel(notification_id).update(actions=[PayNotificationModel.times_received.add(1)])
    return False


def mark_notification(notification_id: str, subject: str) -> None:
    PayNotificationModel(notification_id).update(actions=[PayNotificationModel.subject.set(subject)])


def _plain(value: Topup | WalletRefund, exclude: tuple[str, ...]) -> dict[str, Any]:
    fields = {name: getattr(value, name) for name in type(value).__dataclass_fields__ if name not in exclude}
    return {name: str(v) if name == "status" else v for name, v in fields.items() if v is not None}


_TOPUP_NUMBERS = ("amount_fen", "bonus_fen", "programme_version", "refunded_principal_fen", "bonus_due_fen")
_REFUND_NUMBERS = ("principal_fen", "bonus_due_fen", "bonus_taken_fen", "cash_fen")


def _ints(item: Model, numbers: tuple[str, ...]) -> dict[str, int | None]:
    """PynamoDB hands numbers back as floats: the dataclasses hold ints."""
    return {name: None if getattr(item, name) is None else int(getattr(item, name)) for name in numbers}
