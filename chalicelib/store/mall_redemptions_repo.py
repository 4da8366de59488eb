"""Points mall redemptions (MallRedemptionModel): put once in the points transaction that took
their points (tag `mall:redemption`, only if the id, derived from the request's key, is new),
their fulfilment's steps as conditional updates on the status they were read in (tag
`mall:fulfilment`), and the console's listing by fulfilment status, oldest first.

A points + cash gift (积分+现金) is put awaiting its payment, out of the fulfilment listing and in
the sparse awaiting-payment index (the settle job's); its WeChat Pay order is set once, and its
payment moves it to pending (into the listing, out of the index) once, on that status.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import zlib
from collections.abc import Iterator
from datetime import date
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.mall import RewardKind
from chalicelib.domain.mall_redemptions import (
    Address,
    Cancellation,
    CashPart,
    Redemption,
    RedemptionStatus,
    Shipment,
    TakenLot,
)
from chalicelib.settings import get_settings
from chalicelib.store.errors import condition_failed
from chalicelib.store.models import MallRedemptionModel as M
from chalicelib.store.tx import UnitOfWork

REDEMPTION = "mall:redemption"
FULFILMENT = "mall:fulfilment"
UNPAID_SHARDS = 4


def stage_new(tx: UnitOfWork, redemption: Redemption, phone_enc: str | None) -> None:
    address = redemption.address
    physical = redemption.kind == RewardKind.PHYSICAL
    item = M(
        redemption.member_id,
        redemption.redemption_id,
        reward_id=redemption.reward_id,
        reward_name=redemption.reward_name,
        kind=redemption.kind.value,
        quantity=redemption.quantity,
        points=redemption.points,
        status=redemption.status.value,
        created_at=redemption.created_at,
        entry_id=redemption.entry_id,
        lots=[{"expires_on": lot.expires_on.isoformat(), "points": lot.points} for lot in redemption.lots],
        period_key=redemption.period_key,
        coupon_id=redemption.coupon_id,
        coupon_code=redemption.coupon_code,
        partner_code=redemption.partner_code,
        address=_address_to_dict(address) if address else None,
        phone_enc=phone_enc,
        fulfilment=redemption.status.value if physical and redemption.pay is None else None,
        updated_at=redemption.created_at,
        **_cash_part(redemption),
    )
    tx.put(REDEMPTION, item, condition=M.redemption_id.does_not_exist())


def _cash_part(redemption: Redemption) -> dict[str, Any]:
    pay = redemption.pay
    if pay is None:
        return {}
    found: dict[str, Any] = {"cash_fen": pay.cash_fen, "trade_no": pay.trade_no, "openid": pay.openid,
                             "expires_at": pay.expires_at}  # fmt: skip
    if redemption.status == RedemptionStatus.AWAITING_PAYMENT:
        shard = str(zlib.crc32(redemption.redemption_id.encode()) % UNPAID_SHARDS)
        found |= {"unpaid_shard": shard, "unpaid_until": pay.expires_at}
    return found


def set_prepay(redemption: Redemption, prepay_id: str, timestamp: str, nonce: str) -> Redemption:
    """The cash part's WeChat Pay order, once, while unpaid (a racing retry keeps the first)."""
    item = M(redemption.member_id, redemption.redemption_id)
    actions: list[Any] = [M.prepay_id.set(prepay_id), M.pay_timestamp.set(timestamp), M.pay_nonce.set(nonce)]
    try:
        item.update(actions=actions, condition=M.prepay_id.does_not_exist() & M.trade_no.exists())
    except UpdateError as error:
        if not condition_failed(error):
            raise
    return get(redemption.member_id, redemption.redemption_id) or redemption


def stage_paid(tx: UnitOfWork, redemption: Redemption, transaction_id: str, paid_at: str, at: str) -> None:
    """Awaiting payment → pending (into the fulfilment listing, out of the unpaid index), once."""
    pending = RedemptionStatus.PENDING.value
    actions = [
        M.status.set(pending),
        M.fulfilment.set(pending),
        M.transaction_id.set(transaction_id),
        M.paid_at.set(paid_at),
        M.updated_at.set(at),
        M.unpaid_shard.remove(),
        M.unpaid_until.remove(),
    ]
    _stage_step(tx, redemption, actions)


def due_unpaid(until: str) -> Iterator[str]:
    """Ids of redemptions awaiting payment whose deadline is before `until` (the settle job's)."""
    for shard in range(UNPAID_SHARDS):
        for item in M.by_unpaid.query(str(shard), M.unpaid_until < until):
            yield item.redemption_id


def get(member_id: str, redemption_id: str) -> Redemption | None:
    found = _get(member_id, redemption_id)
    return None if found is None else _redemption(found)


def find(redemption_id: str) -> tuple[Redemption, str | None] | None:
    """A redemption by its id alone (the console's), with its encrypted phone."""
    keys = list(M.by_id.query(redemption_id, limit=1))
    found = _get(keys[0].member_id, redemption_id) if keys else None
    return None if found is None else (_redemption(found), found.phone_enc)


def of_member(member_id: str) -> list[Redemption]:
    """Every redemption of the member: one consistent Query of their partition."""
    return [redemption for redemption, _ in sealed_of_member(member_id)]


def sealed_of_member(member_id: str) -> list[tuple[Redemption, str | None]]:
    """Every redemption of the member with its sealed phone (their export shows it in full)."""
    return [(_redemption(item), item.phone_enc) for item in M.query(member_id, consistent_read=True)]


def by_status(status: RedemptionStatus, limit: int, cursor: str | None) -> tuple[list[Redemption], str | None]:
    """Physical gifts in one fulfilment status, oldest first (the order they are shipped in)."""
    start = _decode(cursor, status)
    results = M.by_fulfilment.query(status.value, limit=limit, page_size=limit, last_evaluated_key=start)
    found = [_redemption(item) for item in results]
    last = results.last_evaluated_key if len(found) >= limit else None
    return found, _encode({"status": status.value, "key": last}) if last else None


def erase_addresses(member_id: str) -> int:
    """A closed account's (注销) delivery addresses, gone from every redemption that no longer
    waits to ship (a pending one keeps its address until it is shipped or cancelled): for the
    privacy deletion (services/privacy_deletion.py). Returns how many were erased."""
    erased = 0
    for item in M.query(member_id, consistent_read=True):
        waiting = item.status in (RedemptionStatus.PENDING.value, RedemptionStatus.AWAITING_PAYMENT.value)
        if item.address is None or waiting or item.phone_enc is None:
            continue
        gone = {"name": "*", "phone_masked": "", "region": "", "detail": ""}
        item.update(actions=[M.address.set(gone), M.phone_enc.remove()], condition=M.status == item.status)
        erased += 1
    return erased


def stage_ship(tx: UnitOfWork, redemption: Redemption, shipment: Shipment) -> None:
    actions = [
        M.status.set(RedemptionStatus.SHIPPED.value),
        M.fulfilment.set(RedemptionStatus.SHIPPED.value),
        M.carrier.set(shipment.carrier),
        M.tracking_no.set(shipment.tracking_no),
        M.shipped_at.set(shipment.shipped_at),
        M.shipped_by.set(shipment.shipped_by),
        M.updated_at.set(shipment.shipped_at),
    ]
    _stage_step(tx, redemption, actions)


def stage_deliver(tx: UnitOfWork, redemption: Redemption, at: str) -> None:
    done = RedemptionStatus.DELIVERED.value
    actions = [M.status.set(done), M.fulfilment.set(done), M.delivered_at.set(at), M.updated_at.set(at)]
    _stage_step(tx, redemption, actions)


def stage_cancel(tx: UnitOfWork, redemption: Redemption, cancellation: Cancellation) -> None:
    done = RedemptionStatus.CANCELLED.value
    actions = [
        M.status.set(done),
        M.fulfilment.set(done),
        M.cancelled_at.set(cancellation.cancelled_at),
        M.cancelled_by.set(cancellation.cancelled_by),
        M.refund_entry_id.set(cancellation.refund_entry_id),
        M.into_today.set(cancellation.into_today),
        M.updated_at.set(cancellation.cancelled_at),
    ]
    if cancellation.reason:
        actions.append(M.cancel_reason.set(cancellation.reason))
    if redemption.status == RedemptionStatus.AWAITING_PAYMENT:
        actions += [M.unpaid_shard.remove(), M.unpaid_until.remove()]
    _stage_step(tx, redemption, actions)


def _stage_step(tx: UnitOfWork, redemption: Redemption, actions: list[Any]) -> None:
    """Once only: the step is taken from the status it was read in, or not at all."""
    item = M(redemption.member_id, redemption.redemption_id)
    tx.update(FULFILMENT, item, actions=actions, condition=M.status == redemption.status.value)


def _get(member_id: str, redemption_id: str) -> M | None:
    try:
        return M.get(member_id, redemption_id, consistent_read=True)
    except M.DoesNotExist:
        return None


def _address_to_dict(address: Address) -> dict[str, str]:
    return {"name": address.name, "phone_masked": address.phone_masked, "region": address.region,
            "detail": address.detail}  # fmt: skip


def _redemption(item: M) -> Redemption:
    address = item.address
    shipped = item.shipped_at is not None
    return Redemption(
        redemption_id=item.redemption_id,
        member_id=item.member_id,
        reward_id=item.reward_id,
        reward_name=item.reward_name,
        kind=RewardKind(item.kind),
        quantity=int(item.quantity),
        points=int(item.points),
        status=RedemptionStatus(item.status),
        created_at=item.created_at,
        entry_id=item.entry_id,
        lots=tuple(TakenLot(date.fromisoformat(lot["expires_on"]), int(lot["points"])) for lot in item.lots or []),
        coupon_id=item.coupon_id,
        coupon_code=item.coupon_code,
        partner_code=item.partner_code,
        address=Address(address["name"], address["phone_masked"], address["region"], address["detail"])
        if address
        else None,
        shipment=Shipment(item.carrier or "", item.tracking_no or "", item.shipped_at or "", item.shipped_by or "")
        if shipped
        else None,
        delivered_at=item.delivered_at,
        cancellation=_cancellation(item),
        period_key=item.period_key,
        pay=_pay(item),
    )


def _pay(item: M) -> CashPart | None:
    if item.trade_no is None:
        return None
    return CashPart(
        cash_fen=int(item.cash_fen or 0),
        trade_no=item.trade_no,
        openid=item.openid or "",
        expires_at=item.expires_at or "",
        prepay_id=item.prepay_id,
        pay_timestamp=item.pay_timestamp,
        pay_nonce=item.pay_nonce,
        transaction_id=item.transaction_id,
        paid_at=item.paid_at,
    )


def _cancellation(item: M) -> Cancellation | None:
    if item.cancelled_at is None:
        return None
    return Cancellation(
        item.cancelled_at,
        item.cancelled_by or "",
        item.cancel_reason,
        item.refund_entry_id or "",
        int(item.into_today or 0),
    )


def _encode(position: dict[str, Any]) -> str:
    """DynamoDB's start key, signed: a cursor is never a key we did not hand out."""
    body = base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{body}.{_mac(body)}"


def _decode(cursor: str | None, status: RedemptionStatus) -> dict[str, Any] | None:
    """The start key of a cursor this listing handed out for this status, or 400."""
    if not cursor:
        return None
    body, _, mac = cursor.partition(".")
    if len(cursor) > 2048 or not mac.isascii() or not hmac.compare_digest(_mac(body), mac):
        raise InvalidInput("cursor is not one this API returned", field="cursor")
    try:
        position = json.loads(base64.urlsafe_b64decode((body + "=" * (-len(body) % 4)).encode()))
    except (ValueError, binascii.Error) as error:
        raise InvalidInput("cursor is not one this API returned", field="cursor") from error
    if position.get("status") != status.value:  # signed, but handed out for another status
        raise InvalidInput("cursor is from another status's listing", field="cursor")
    key: dict[str, Any] = position["key"]
    return key


def _mac(body: str) -> str:
    secret = f"mall-cursor:{get_settings().jwt_secret}".encode()
    return hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
