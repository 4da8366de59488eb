"""Fulfilments of physical gifts in the console (`/admin/mall/fulfilments`): listed by status
from an index, shown with the address (the phone in full only to roles that ship, and that
read is in the audit trail), and moved one step at a time: pending → shipped (carrier and
tracking number; shipping again corrects them) → delivered, or cancelled while pending
(services/mall_cancel.py gives the points back). Each step is a conditional update on the
status it was read in, audited by its commit; a step already taken answers again.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from chalicelib.clock import iso
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.errors import Busy
from chalicelib.domain.mall import MallNotFound
from chalicelib.domain.mall_redemptions import Address, Redemption, RedemptionStatus, Shipment, next_status
from chalicelib.domain.operators import Role
from chalicelib.retry import backoff
from chalicelib.settings import get_settings
from chalicelib.store import audit_repo, mall_redemptions_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork

SHIPPERS = frozenset({Role.ADMIN, Role.OPERATOR})  # who reads the phone in full (an auditor does not)


def listing(status: RedemptionStatus, limit: int, cursor: str | None) -> tuple[list[Redemption], str | None]:
    return mall_redemptions_repo.by_status(status, limit, cursor)


def find(redemption_id: str) -> Redemption:
    return _found(redemption_id)[0]


def label(redemption_id: str, operator: str, role: str, now: datetime, request_id: str | None) -> Redemption:
    """The fulfilment with what a parcel needs: the phone in full for those who ship, once
    the trail records who read it; masked for everyone else."""
    from chalicelib.security.phone import decrypt_phone

    redemption, phone_enc = _found(redemption_id)
    shown = redemption.address
    if role not in SHIPPERS or phone_enc is None or shown is None:
        return redemption
    audit_id = request_id or uuid.uuid4().hex
    audit_repo.record(
        AuditEntry(audit_id, iso(now), operator, role, "read fulfilment address", f"redemption:{redemption_id}",
                   audit_id, after={"member_id": redemption.member_id})
    )  # fmt: skip
    address = Address(shown.name, shown.phone_masked, shown.region, shown.detail, decrypt_phone(phone_enc))
    return replace(redemption, address=address)


def ship(redemption_id: str, carrier: str, tracking_no: str, operator: str, now: datetime) -> Redemption:
    for attempt in range(get_settings().tx_max_attempts):
        redemption = find(redemption_id)
        next_status(redemption.status, "ship")  # refuses a delivered or a cancelled one
        shipped = redemption.shipment
        if shipped is not None and (shipped.carrier, shipped.tracking_no) == (carrier, tracking_no):
            return redemption  # a retry
        before = {"status": redemption.status, "carrier": shipped.carrier if shipped else None}
        audit_repo.describe(
            target=f"redemption:{redemption_id}", before=before, after={"status": "shipped", "carrier": carrier}
        )
        tx = UnitOfWork(get_settings().region)
        mall_redemptions_repo.stage_ship(tx, redemption, Shipment(carrier, tracking_no, iso(now), operator))
        if _committed(tx, attempt):
            return find(redemption_id)
    raise Busy(f"fulfilment {redemption_id} kept changing")


def deliver(redemption_id: str, now: datetime) -> Redemption:
    for attempt in range(get_settings().tx_max_attempts):
        redemption = find(redemption_id)
        if next_status(redemption.status, "deliver") is None:
            return redemption
        audit_repo.describe(
            target=f"redemption:{redemption_id}", before={"status": redemption.status}, after={"status": "delivered"}
        )
        tx = UnitOfWork(get_settings().region)
        mall_redemptions_repo.stage_deliver(tx, redemption, iso(now))
        if _committed(tx, attempt):
            return find(redemption_id)
    raise Busy(f"fulfilment {redemption_id} kept changing")


def cancel(redemption_id: str, reason: str, operator: str, now: datetime) -> Redemption:
    from chalicelib.services import mall_cancel

    return mall_cancel.cancel(find(redemption_id), operator, reason, now)


def _committed(tx: UnitOfWork, attempt: int) -> bool:
    """False when the status moved since it was read (read it again and decide again)."""
    try:
        tx.commit()
    except TransactionFailed as failure:
        if not (failure.failed(mall_redemptions_repo.FULFILMENT) or failure.retryable):
            raise
        backoff(attempt)
        return False
    return True


def _found(redemption_id: str) -> tuple[Redemption, str | None]:
    """A physical gift's redemption (a coupon's or a code's has no fulfilment) and its sealed phone."""
    found = mall_redemptions_repo.find(redemption_id)
    if found is None or found[0].address is None:
        raise MallNotFound(f"no fulfilment {redemption_id}", field="redemption_id")
    return found
