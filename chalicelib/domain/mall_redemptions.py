"""A points mall redemption (积分兑换记录): what it took, what it gave, its fulfilment's steps
(a physical gift: pending → shipped → delivered, or cancelled while pending; a gift with a cash
part (积分+现金) starts awaiting_payment and is pending once WeChat Pay says it is paid, or
cancelled unpaid), and how a cancelled one gives its points back. Pure: no I/O.

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
    AWAITING_PAYMENT = "awaiting_payment"  # a gift's cash part, not paid yet (its points are taken)
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
class CashPart:
    """The cash part of a points + cash gift (积分+现金), paid through WeChat Pay (JSAPI) while
    the points and the unit are held: its order (out_trade_no from the redemption id), the
    `wx.requestPayment` parameters once placed, and the payment once WeChat Pay confirms it."""

    cash_fen: int  # in all: per unit × quantity
    trade_no: str
    openid: str
    expires_at: str  # unpaid by then: closed at WeChat Pay and cancelled
    prepay_id: str | None = None
    pay_timestamp: str | None = None
    pay_nonce: str | None = None
    transaction_id: str | None = None
    paid_at: str | None = None


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
    pay: CashPart | None = None  # a points + cash gift's WeChat Pay part

    @property
    def cash_fen(self) -> int:
        return self.pay.cash_fen if self.pay is not None else 0


@dataclass(frozen=True)
class RefundPlan:
    adds: dict[date, int]  # points back into lots, by expiry date
    repaid: int  # of the points, debt repaid first
    into_today: int  # of the points, those whose lot had passed its date (now expiring today)


def redemption_id(entry_id: str) -> str:
    """`mr_` + 24 hex of the ledger entry's id: a retried request names the same redemption."""
    return "mr_" + hashlib.sha256(entry_id.encode()).hexdigest()[:24]


def trade_no(redemption_id_: str) -> str:
    """`wm` + the redemption id's 24 hex: the cash part's out_trade_no (6-32 letters and digits),
    the same order for a retried request, and the redemption found again from a notification."""
    return "wm" + redemption_id_.removeprefix("mr_")


def redemption_of_trade(trade_no_: str) -> str | None:
    """The redemption id an out_trade_no of ours names; None for anything else."""
    hexes = trade_no_.removeprefix("wm")
    if not trade_no_.startswith("wm") or len(hexes) != 24 or any(c not in "0123456789abcdef" for c in hexes):
        return None
    return "mr_" + hexes


def refund_no(redemption_id_: str) -> str:
    """`mr` + 24 hex: the out_refund_no of a redemption's cash part. ONE per redemption, whatever
    refunds it (a cancel of the paid gift, or a payment that landed after the cancel), so WeChat
    Pay answers every later submission with the same refund: the cash goes back once, in full."""
    return "mr" + hashlib.sha256(f"mall-cash-refund:{redemption_id_}".encode()).hexdigest()[:24]


def initial_status(kind: RewardKind, cash_fen: int = 0) -> RedemptionStatus:
    if kind != RewardKind.PHYSICAL:
        return RedemptionStatus.ISSUED
    return RedemptionStatus.AWAITING_PAYMENT if cash_fen else RedemptionStatus.PENDING


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
    "cancel": {
        RedemptionStatus.PENDING: RedemptionStatus.CANCELLED,
        RedemptionStatus.AWAITING_PAYMENT: RedemptionStatus.CANCELLED,
        RedemptionStatus.CANCELLED: None,
    },
}
_REFUSALS = {"ship": "mall_fulfilment_closed", "deliver": "mall_not_shipped", "cancel": "mall_already_shipped"}


def next_status(current: RedemptionStatus, action: Action) -> RedemptionStatus | None:
    """The step an action takes a fulfilment to; None: it is there already (a retry answers
    it again). Shipping again while shipped corrects the carrier or the number."""
    steps = _STEPS[action]
    if current in steps:
        return steps[current]
    if current == RedemptionStatus.AWAITING_PAYMENT:
        raise MallRefused("the cash part is not paid yet", field="status", code="mall_awaiting_payment")
    if current == RedemptionStatus.ISSUED:
        raise MallRefused("a coupon or a code is issued at once: nothing to ship or cancel", code="mall_not_physical")
    raise MallRefused(f"the redemption is {current.value}", field="status", code=_REFUSALS[action])
