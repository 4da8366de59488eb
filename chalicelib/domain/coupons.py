"""Coupons (优惠券): templates, what a coupon gives in fen, when it is valid, how the stock is
sharded. Pure rules: no I/O; the member-facing rule text is in domain/coupon_text.py.

Amounts are integer fen. Rates are the percentage paid, as the programme's discount_rate is
(90 is 9折: pay 90 %). Rounding is always in the brand's favour, to the fen: a percentage's
discount is rounded down (9折 of 99 fen is 9 fen off, not 9.9). Thresholds are inclusive
(满200减30 applies to an eligible 200.00 yuan). Validity and claim windows run from their
start to the END of their last second: `valid_until` 23:59:59 is usable until 23:59:59.999.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from chalicelib.domain.errors import AlreadySet, Forbidden, InvalidInput, NotFound

MAX_FEN = 100_000_000_00  # as the programme's
MAX_STOCK = 10_000_000
MAX_SHARDS = 32
MAX_LIMIT = 1000
MAX_DAYS = 3650


class Kind(StrEnum):
    AMOUNT_OFF = "amount_off"  # 满减: threshold + amount off
    PERCENTAGE = "percentage"  # 折扣券: pay rate_percent, optionally at most cap_fen off
    VOUCHER = "voucher"  # 代金券: a face value, optionally above a threshold, never more than the order
    NO_THRESHOLD = "no_threshold"  # 无门槛券
    GIFT = "gift"  # 兑换券: one unit of gift_sku


class Channel(StrEnum):
    MINI_PROGRAM = "mini_program"
    IN_STORE = "in_store"
    BOTH = "both"


class CouponStatus(StrEnum):
    """Stored: unused, used, returned (given back after a refund: usable again), expired (a
    job may store it); what a member sees is `Coupon.status_at(now)`: past its end is expired."""

    UNUSED = "unused"
    USED = "used"
    EXPIRED = "expired"
    RETURNED = "returned"


class TemplateStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class CouponNotFound(NotFound):
    """404 (the not-found family): no such template or coupon, or another member's."""

    code = "coupon_not_found"


class CouponRefused(AlreadySet):
    """409: the claim (or use) is refused by a rule of the template or the coupon's state."""

    code = "coupon_refused"


class TierRestricted(Forbidden):
    code = "coupon_tier_restricted"


@dataclass(frozen=True)
class Benefit:
    kind: Kind
    threshold_fen: int = 0
    amount_off_fen: int = 0
    rate_percent: int = 0
    cap_fen: int | None = None
    gift_sku: str | None = None
    gift_name: str | None = None


@dataclass(frozen=True)
class Scope:
    """Empty means any. A line is in scope by its SKU or its category; stores restrict in-store use."""

    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stacking:
    """A coupon group (券组): one coupon per group per order; an exclusive coupon combines with
    no other coupon; `with_points`: it may be used with a points deduction (积分抵扣)."""

    group: str = "default"
    exclusive: bool = True
    with_points: bool = True


@dataclass(frozen=True)
class Terms:
    """What a coupon carries: the template's rules at claim time (an edit never changes them)."""

    name: str
    benefit: Benefit
    scope: Scope = Scope()
    channel: Channel = Channel.BOTH
    stacking: Stacking = Stacking()
    description: str | None = None


@dataclass(frozen=True)
class Validity:
    """A fixed window (`valid_from`..`valid_until`), or `days` from the claim: the claim day
    is day 1, the last ends at 23:59:59 in the brand's timezone."""

    valid_from: datetime | None = None
    valid_until: datetime | None = None
    days: int | None = None


@dataclass(frozen=True)
class Definition:
    """A template as an operator edits it."""

    terms: Terms
    validity: Validity
    stock: int
    claim_from: datetime | None = None
    claim_until: datetime | None = None
    per_member_limit: int | None = None
    per_member_daily_limit: int | None = None
    tiers: tuple[str, ...] = ()  # tier codes of the programme; empty: every tier


@dataclass(frozen=True)
class CouponTemplate:
    template_id: str
    version: int
    status: TemplateStatus
    definition: Definition
    shards: int
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str


@dataclass(frozen=True)
class Coupon:
    coupon_id: str
    member_id: str
    template_id: str
    code: str
    terms: Terms
    valid_from: datetime
    valid_until: datetime
    status: CouponStatus
    claimed_at: str
    source: str  # claim | grant:<source>
    used_at: str | None = None
    used_by: str | None = None
    used_store: str | None = None
    order_id: str | None = None
    returned_at: str | None = None

    def status_at(self, now: datetime) -> CouponStatus:
        """Used stays used; an unused or returned coupon past its end is expired before any job."""
        if self.status in (CouponStatus.USED, CouponStatus.EXPIRED):
            return self.status
        return CouponStatus.EXPIRED if now >= end_of(self.valid_until) else self.status

    def usable_at(self, now: datetime) -> bool:
        return self.status_at(now) in (CouponStatus.UNUSED, CouponStatus.RETURNED) and now >= self.valid_from


@dataclass(frozen=True)
class Line:
    """An order line, for the eligible amount: `amount_fen` is what the line costs."""

    sku: str
    amount_fen: int
    category: str | None = None


# --- maths -------------------------------------------------------------------------------


def eligible_fen(scope: Scope, lines: list[Line]) -> int:
    """What of an order the coupon applies to: the lines in scope by SKU or category."""
    if not scope.skus and not scope.categories:
        return sum(line.amount_fen for line in lines)
    return sum(line.amount_fen for line in lines if line.sku in scope.skus or line.category in scope.categories)


def discount_fen(benefit: Benefit, eligible: int, gift_price_fen: int = 0) -> int:
    """Fen off an eligible amount; 0 below the threshold. Never more than the eligible amount
    (a voucher gives no change), a percentage rounded down to the fen, then capped."""
    if eligible < 0 or gift_price_fen < 0:
        raise InvalidInput("amounts are not negative", field="amount_fen")
    if eligible < benefit.threshold_fen or eligible == 0:
        return 0
    if benefit.kind == Kind.PERCENTAGE:
        off = eligible * (100 - benefit.rate_percent) // 100
        return off if benefit.cap_fen is None else min(off, benefit.cap_fen)
    if benefit.kind == Kind.GIFT:
        return min(gift_price_fen, eligible)
    return min(benefit.amount_off_fen, eligible)


def applies_at(terms: Terms, channel: Channel, store_id: str | None) -> bool:
    """Usable through this channel (and, in store, at this store)."""
    if terms.channel not in (Channel.BOTH, channel):
        return False
    if channel == Channel.IN_STORE and terms.scope.stores:
        return store_id in terms.scope.stores
    return True


def can_combine(first: Stacking, second: Stacking) -> bool:
    """Two coupons on one order: of different groups, neither exclusive."""
    return first.group != second.group and not first.exclusive and not second.exclusive


# --- time --------------------------------------------------------------------------------


def end_of(until: datetime) -> datetime:
    """The first instant past a window whose last second is `until`."""
    return until.replace(microsecond=0) + timedelta(seconds=1)


def within(start: datetime | None, until: datetime | None, now: datetime) -> bool:
    return (start is None or now >= start) and (until is None or now < end_of(until))


def coupon_window(validity: Validity, claimed_at: datetime, timezone: str) -> tuple[datetime, datetime]:
    """(valid_from, valid_until) of a coupon claimed at `claimed_at`."""
    if validity.days is None:
        assert validity.valid_from is not None and validity.valid_until is not None
        return validity.valid_from, validity.valid_until
    zone = ZoneInfo(timezone)
    last_day = claimed_at.astimezone(zone).date() + timedelta(days=validity.days - 1)
    return claimed_at, datetime.combine(last_day, time(23, 59, 59), tzinfo=zone)


def check_claimable(definition: Definition, status: TemplateStatus, tier_code: str, now: datetime) -> None:
    """A member's claim: the template open, inside its claim window, for the member's tier."""
    check_grantable(definition, status, now)
    if definition.claim_from is not None and now < definition.claim_from:
        raise CouponRefused("claiming has not started", field="claim_from", code="coupon_claim_not_started")
    if definition.claim_until is not None and now >= end_of(definition.claim_until):
        raise CouponRefused("claiming has ended", field="claim_until", code="coupon_claim_ended")
    if definition.tiers and tier_code not in definition.tiers:
        raise TierRestricted(f"for tiers {', '.join(definition.tiers)} only", field="tiers")


def check_grantable(definition: Definition, status: TemplateStatus, now: datetime) -> None:
    """Any coupon given: the template open, and a fixed window not over (it would arrive expired)."""
    if status == TemplateStatus.PAUSED:
        raise CouponRefused("the template is paused", field="status", code="coupon_paused")
    until = definition.validity.valid_until
    if until is not None and now >= end_of(until):
        raise CouponRefused("its coupons have expired", field="validity.valid_until", code="coupon_claim_ended")
