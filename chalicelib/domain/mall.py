"""The points mall (积分商城): rewards members buy with points and the rules a redemption
meets. Pure: no I/O. A redemption, its fulfilment and its refund are domain/mall_redemptions.py.

A reward is a coupon of a template, a physical gift (shipped: pending → shipped → delivered,
or cancelled while pending) or a partner's code (兑换码) from a pool operators upload. It costs
points × quantity, or, for a physical gift only, points + cash (`cash_fen`, paid through WeChat
Pay: services/mall_pay.py; a coupon or a code with a cash part is refused, 409
`mall_cash_physical_only`: it is issued at once and could not be taken back unpaid). Windows are instants with their offset, each through
the end of its last second (as coupons'); the periods of a per-member limit are Asia/Shanghai
days, ISO weeks and months, and the programme's `points.min_redeem_points` is a balance a
member must hold to redeem at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from chalicelib.domain.coupons import end_of, within
from chalicelib.domain.errors import (
    AlreadySet,
    DomainError,
    Forbidden,
    InsufficientPoints,
    InvalidInput,
    NotFound,
)
from chalicelib.domain.programme import CODE, MAX_FEN, MAX_POINTS

ID = r"^[A-Za-z0-9_\-:.]{1,64}$"
MAX_STOCK = 10_000_000
MAX_QUANTITY = 10
Period = Literal["day", "week", "month"]


class RewardKind(StrEnum):
    COUPON = "coupon"
    PHYSICAL = "physical"
    PARTNER_CODE = "partner_code"


class RewardStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class MallNotFound(NotFound):
    """404: no such reward or redemption, or another member's."""

    code = "mall_not_found"


class MallRefused(AlreadySet):
    """409: a rule of the reward, the member's limits or the redemption's state refuses it."""

    code = "mall_refused"


class MallTierRestricted(Forbidden):
    code = "mall_tier_restricted"


class BelowMinimumBalance(InsufficientPoints):
    code = "mall_below_min_balance"


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class MallCouponItem(_Data):
    """A coupon of a template (the template's stock and limits hold too)."""

    kind: Literal["coupon"]
    coupon_template_id: str = Field(pattern=ID, max_length=64)
    stock: int = Field(ge=1, le=MAX_STOCK, description="in all, redeemed and not; never below what was redeemed")


class MallPhysicalItem(_Data):
    kind: Literal["physical"]
    stock: int = Field(ge=1, le=MAX_STOCK, description="in all, redeemed and not; never below what was redeemed")
    sku: str | None = Field(default=None, pattern=ID, max_length=64, description="the warehouse's SKU")
    max_quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY, description="units in one redemption")


class MallPartnerCodeItem(_Data):
    """A partner's code (e.g. a video membership): the stock is the pool of codes uploaded."""

    kind: Literal["partner_code"]
    partner: str = Field(min_length=1, max_length=32)
    instructions: str | None = Field(default=None, min_length=1, max_length=200, description="how to use the code")


MallItem = Annotated[MallCouponItem | MallPhysicalItem | MallPartnerCodeItem, Field(discriminator="kind")]


class RewardDefinition(_Data):
    """A reward as an operator defines it; each rule between fields names the later field."""

    name: str = Field(min_length=1, max_length=32)
    description: str | None = Field(default=None, min_length=1, max_length=200)
    item: MallItem
    points: int = Field(ge=1, le=MAX_POINTS, description="per unit")
    cash_fen: int = Field(default=0, ge=0, le=MAX_FEN, description="per unit, via WeChat Pay: physical gifts only")
    per_member_limit: int | None = Field(default=None, ge=1, le=1000, description="units per member in all")
    period: Period = Field(default="month", description="of per_period_limit: an Asia/Shanghai day, ISO week, month")
    per_period_limit: int | None = Field(default=None, ge=1, le=1000, description="units per member a period")
    tiers: tuple[Annotated[str, Field(pattern=CODE)], ...] = Field(default=(), max_length=12, description="[]: all")
    visible_from: AwareDatetime | None = None
    visible_until: AwareDatetime | None = Field(default=None, description="its last second")
    redeem_from: AwareDatetime | None = Field(default=None, description="within the visible window")
    redeem_until: AwareDatetime | None = Field(default=None, description="its last second; within the visible window")

    @field_validator("per_period_limit")
    @classmethod
    def _within_total(cls, limit: int | None, info: ValidationInfo) -> int | None:
        total = info.data.get("per_member_limit")
        if limit is not None and total is not None and limit > total:
            raise ValueError("is above per_member_limit")
        return limit

    @field_validator("tiers")
    @classmethod
    def _unique(cls, tiers: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(tiers)) != len(tiers):
            raise ValueError("tier codes must be unique")
        return tiers

    @field_validator("visible_until", "redeem_until")
    @classmethod
    def _ends_after_start(cls, until: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("visible_from" if info.field_name == "visible_until" else "redeem_from")
        if until is not None and start is not None and until < start:
            raise ValueError("is before its start")
        shown_until = info.data.get("visible_until")
        if info.field_name == "redeem_until" and until is not None and shown_until is not None and until > shown_until:
            raise ValueError("is after visible_until: a reward is redeemed only while it is shown")
        return until

    @field_validator("redeem_from")
    @classmethod
    def _while_shown(cls, start: datetime | None, info: ValidationInfo) -> datetime | None:
        shown_from, shown_until = info.data.get("visible_from"), info.data.get("visible_until")
        if start is not None and shown_from is not None and start < shown_from:
            raise ValueError("is before visible_from: a reward is redeemed only while it is shown")
        if start is not None and shown_until is not None and start > shown_until:
            raise ValueError("is after visible_until")
        return start

    @property
    def kind(self) -> RewardKind:
        return RewardKind(self.item.kind)

    @property
    def max_quantity(self) -> int:
        return self.item.max_quantity if isinstance(self.item, MallPhysicalItem) else 1

    @property
    def stock(self) -> int | None:
        """The stock an operator sets; a partner-code reward's is its pool."""
        return None if isinstance(self.item, MallPartnerCodeItem) else self.item.stock


@dataclass(frozen=True)
class Reward:
    reward_id: str
    version: int
    status: RewardStatus
    definition: RewardDefinition
    remaining: int  # units left (a partner-code reward: codes not yet claimed)
    redeemed: int  # units redeemed and not cancelled
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str


@dataclass(frozen=True)
class MemberCount:
    """What one member redeemed of one reward: in all, and in the period `period_key`."""

    total: int = 0
    period_key: str | None = None
    period_count: int = 0

    def in_period(self, key: str) -> int:
        return self.period_count if self.period_key == key else 0

    def plus(self, quantity: int, key: str) -> MemberCount:
        return MemberCount(self.total + quantity, key, self.in_period(key) + quantity)


def period_key(period: Period, today: date) -> str:
    if period == "day":
        return today.isoformat()
    if period == "week":
        year, week, _ = today.isocalendar()
        return f"{year}-W{week:02d}"
    return today.strftime("%Y-%m")


def is_visible(definition: RewardDefinition, now: datetime) -> bool:
    return within(definition.visible_from, definition.visible_until, now)


def check_open(reward: Reward, now: datetime) -> None:
    """The reward may be redeemed now by someone: active, in its windows, a cash part only on a
    physical gift (paid through WeChat Pay: services/mall_pay.py)."""
    definition = reward.definition
    if reward.status == RewardStatus.PAUSED:
        raise MallRefused("the reward is paused", field="status", code="mall_reward_paused")
    for start, name in ((definition.visible_from, "visible_from"), (definition.redeem_from, "redeem_from")):
        if start is not None and now < start:
            raise MallRefused("redemption has not started", field=name, code="mall_not_started")
    for until, name in ((definition.visible_until, "visible_until"), (definition.redeem_until, "redeem_until")):
        if until is not None and now >= end_of(until):
            raise MallRefused("redemption has ended", field=name, code="mall_ended")
    if definition.cash_fen and definition.kind != RewardKind.PHYSICAL:
        # A coupon or a code is issued at once and cannot be taken back unseen, so nothing could
        # be given back if its cash part went unpaid: points + cash is for physical gifts only.
        raise MallRefused("points + cash is for physical gifts only", field="cash_fen", code="mall_cash_physical_only")


def check_request(definition: RewardDefinition, quantity: int, has_address: bool) -> None:
    if not 1 <= quantity <= definition.max_quantity:
        raise InvalidInput(f"quantity is 1 to {definition.max_quantity} for this reward", field="quantity")
    if definition.kind == RewardKind.PHYSICAL and not has_address:
        raise InvalidInput("a physical gift needs a delivery address", field="address")
    if definition.kind != RewardKind.PHYSICAL and has_address:
        raise InvalidInput("only a physical gift is shipped", field="address")


def check_member(definition: RewardDefinition, tier_code: str, balance: int, min_redeem_points: int) -> None:
    if definition.tiers and tier_code not in definition.tiers:
        raise MallTierRestricted(f"for tiers {', '.join(definition.tiers)} only", field="tiers")
    if balance < min_redeem_points:
        raise BelowMinimumBalance(f"redemption needs a balance of {min_redeem_points}", field="points")


def check_limits(definition: RewardDefinition, count: MemberCount, quantity: int, key: str) -> None:
    total, per_period = definition.per_member_limit, definition.per_period_limit
    if total is not None and count.total + quantity > total:
        raise MallRefused(f"at most {total} per member", field="per_member_limit", code="mall_limit_reached")
    if per_period is not None and count.in_period(key) + quantity > per_period:
        raise MallRefused(
            f"at most {per_period} a {definition.period}", field="per_period_limit", code="mall_period_limit_reached"
        )


def check_stock(reward: Reward, quantity: int) -> None:
    if reward.remaining < quantity:
        raise MallRefused(f"{reward.remaining} left", field="reward_id", code="mall_sold_out")


def refusal(
    reward: Reward, tier_code: str, balance: int, count: MemberCount, now: datetime, min_redeem_points: int, key: str
) -> str | None:
    """The code a redemption of one unit would meet now (for the member's listing), or None."""
    try:
        check_open(reward, now)
        check_member(reward.definition, tier_code, balance, min_redeem_points)
        check_limits(reward.definition, count, 1, key)
        check_stock(reward, 1)
    except DomainError as refused:
        return refused.code
    return "insufficient_points" if balance < reward.definition.points else None
