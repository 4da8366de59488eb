"""A points mall redemption (积分兑换记录): what it took, what it gave, its fulfilment's steps
(a physical gift: pending → shipped → delivered, or cancelled while pending), and how a
cancelled one gives its points back. Pure: no I/O.

Refund into lots (退回积分): a cancelled redemption gives each point back to the lot it was
taken from while that lot is valid (its expiry date today or later); a point whose lot has
passed its date goes into a lot expiring today, spendable until midnight, then expired by the
job as it would have been had it never been spent. A debt left by an order refund (欠分) is
repaid first, from the earliest-expiring points given back, as any earning repays it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Literal

from chalicelib.domain.mall import MallRefused, RewardKind

Action = Literal["ship", "deliver", "cancel"]


class RedemptionStatus(StrEnum):
    """A coupon or code is `issued` at once; a physical gift's is its fulfilment's step."""

    ISSUED = "issued"
    PENDING = "pending"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TakenLot:
    expires_on: date
    points: int


@dataclass(frozen=True)
class Address:
    """Where a physical gift goes. The phone is kept encrypted; listings show it masked."""

    name: str
    phone_masked: str
    region: str  # 省 市 区
    detail: str
    phone: str | None = None  # in full only when it was just given or deliberately decrypted


@dataclass(frozen=True)
class Shipment:
    carrier: str
    tracking_no: str
    shipped_at: str
    shipped_by: str


@dataclass(frozen=True)
class Cancellation:
    cancelled_at: str
    cancelled_by: str  # an operator id, or "member"
    reason: str | None
    refund_entry_id: str
    into_today: int  # of the points given back, those whose lot had passed its date


@dataclass(frozen=True)
class Redemption:
    redemption_id: str
    member_id: str
    reward_id: str
    reward_name: str
    kind: RewardKind
    quantity: int
    points: int  # in all
    status: RedemptionStatus
    created_at: str
    entry_id: str  # the ledger entry that took the points
    lots: tuple[TakenLot, ...]  # which lots the points came from, earliest expiry first
    coupon_id: str | None = None
    coupon_code: str | None = None
    partner_code: str | None = None
    address: Address | None = None
    shipment: Shipment | None = None
    delivered_at: str | None = None
    cancellation: Cancellation | None = None
    period_key: str | None = None  # the period of the member's count it was counted in


@dataclass(frozen=True)
class RefundPlan:
    adds: dict[date, int]  # points back into lots, by expiry date
    repaid: int  # of the points, debt repaid first
    into_today: int  # of the points, those whose lot had passed its date (now expiring today)


def redemption_id(entry_id: str) -> str:
    """`mr_` + 24 hex of the ledger entry's id: a retried request names the same redemption."""
    return "mr_" + hashlib.sha256(entry_id.encode()).hexdigest()[:24]


def initial_status(kind: RewardKind) -> RedemptionStatus:
    return RedemptionStatus.PENDING if kind == RewardKind.PHYSICAL else RedemptionStatus.ISSUED


def plan_refund(taken: tuple[TakenLot, ...], today: date, debt: int) -> RefundPlan:
    """See the module's rule: each lot's points back while it is valid, else into today's lot."""
    back = sorted((lot.expires_on if lot.expires_on >= today else today, lot.points) for lot in taken)
    repaid = min(debt, sum(points for _, points in back))
    adds: dict[date, int] = {}
    owed = repaid
    for day, points in back:
        used = min(owed, points)
        owed -= used
        if points > used:
            adds[day] = adds.get(day, 0) + points - used
    into_today = sum(lot.points for lot in taken if lot.expires_on < today)
    return RefundPlan(adds, repaid, into_today)


_STEPS: dict[str, dict[RedemptionStatus, RedemptionStatus | None]] = {
    "ship": {RedemptionStatus.PENDING: RedemptionStatus.SHIPPED, RedemptionStatus.SHIPPED: RedemptionStatus.SHIPPED},
    "deliver": {RedemptionStatus.SHIPPED: RedemptionStatus.DELIVERED, RedemptionStatus.DELIVERED: None},
    "cancel": {RedemptionStatus.PENDING: RedemptionStatus.CANCELLED, RedemptionStatus.CANCELLED: None},
}
_REFUSALS = {"ship": "mall_fulfilment_closed", "deliver": "mall_not_shipped", "cancel": "mall_already_shipped"}


def next_status(current: RedemptionStatus, action: Action) -> RedemptionStatus | None:
    """The step an action takes a fulfilment to; None: it is there already (a retry answers
    it again). Shipping again while shipped corrects the carrier or the number."""
    steps = _STEPS[action]
    if current in steps:
        return steps[current]
    if current == RedemptionStatus.ISSUED:
        raise MallRefused("a coupon or a code is issued at once: nothing to ship or cancel", code="mall_not_physical")
    raise MallRefused(f"the redemption is {current.value}", field="status", code=_REFUSALS[action])
