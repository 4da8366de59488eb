"""Using a coupon (核销, redeem) and giving it back (退券): the rules, no I/O.

A coupon is usable through a channel (in store: at a store) while it is unused or returned,
inside its window (`valid_until` 23:59:59 is usable until 23:59:59.999; 00:00:00 is not).
A paused template stops claims and grants, never the use of coupons already held: nothing
here reads the template, only the terms the coupon was claimed with.

A used coupon comes back after a cancelled or refunded order by the return policy: `never`,
`while_valid` (only before its end: one past its end stays used) or `always` (returned even
past its end, where it is expired at once: returned, never usable again).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from chalicelib.domain.coupons import Channel, Coupon, CouponRefused, CouponStatus, end_of

POS_ACTOR = "pos:"  # used_by of a POS client; a WeChat Work userid never holds a colon


class ReturnPolicy(StrEnum):
    NEVER = "never"
    WHILE_VALID = "while_valid"
    ALWAYS = "always"


class CouponAlreadyUsed(CouponRefused):
    """409: used before; says who used it, when and where (the counter shows it)."""

    code = "coupon_already_used"

    def __init__(self, coupon: Coupon, field: str) -> None:
        where = coupon.used_store or "online"
        super().__init__(f"used by {coupon.used_by} at {coupon.used_at} in {where}", field=field)
        self.used_by = coupon.used_by or ""
        self.used_at = coupon.used_at or ""
        self.used_store = coupon.used_store or ""


def pos_actor(client_id: str) -> str:
    return POS_ACTOR + client_id


def check_usable(coupon: Coupon, channel: Channel, store_id: str | None, now: datetime, field: str = "code") -> None:
    """Refuses (409, naming what stops it) a coupon that may not be used now, here."""
    state = coupon.status_at(now)
    if state == CouponStatus.USED:
        raise CouponAlreadyUsed(coupon, field)
    if state == CouponStatus.EXPIRED:
        raise CouponRefused("the coupon has expired", field=field, code="coupon_expired")
    if now < coupon.valid_from:
        raise CouponRefused("the coupon is not valid yet", field=field, code="coupon_not_started")
    if coupon.terms.channel not in (Channel.BOTH, channel):
        code = "coupon_not_in_store" if channel == Channel.IN_STORE else "coupon_not_online"
        raise CouponRefused(f"for {coupon.terms.channel.value} only", field="channel", code=code)
    stores = coupon.terms.scope.stores
    if channel == Channel.IN_STORE and stores and store_id not in stores:
        raise CouponRefused(f"for stores {', '.join(stores)} only", field="store_id", code="coupon_not_for_store")


def not_returned_because(coupon: Coupon, policy: ReturnPolicy, now: datetime) -> str | None:
    """Why the policy keeps a used coupon used (`policy_never`, `expired`), or None: return it."""
    if policy == ReturnPolicy.NEVER:
        return "policy_never"
    if policy == ReturnPolicy.WHILE_VALID and now >= end_of(coupon.valid_until):
        return "expired"
    return None


def replays(current: Coupon, used_by: str, store_id: str | None, order_id: str | None) -> bool:
    """The stored use is this very request's (same actor, store and order or redemption
    reference): its retry answers it again. Without a reference nothing is a replay: a
    second scan of a used coupon is the double use a counter must see."""
    return (
        order_id is not None
        and current.status == CouponStatus.USED
        and (current.used_by, current.used_store, current.order_id) == (used_by, store_id, order_id)
    )
