"""Redeeming coupons (核销) and giving them back (退券).

A use is ONE conditional update of the coupon (repository `stage_use`: unused or returned,
inside its window) with its `coupon.used` event, in one transaction: of two staff scanning
one coupon at once one wins, the other hears who used it, when and where (409
`coupon_already_used`). The store and channel are checked from the terms the coupon was
claimed with, which nothing ever changes. Checkout (the POS) stages the same update into its
own unit of work with the points and the wallet (`stage_use`); a refusal is recognisable by
the returned tag. A return is a conditional update on "used on this order", by the return
policy (settings COUPON_RETURN_POLICY; `return_for_order` also takes one).

A request may be retried: a staff redemption with an Idempotency-Key records a reference of
it (`staff#<hash>` as the coupon's order_id, which no order id can be) and a POS's the
order id, so the retry answers the first use; without a reference a second attempt is 409.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum
from zoneinfo import ZoneInfo

from chalicelib.clock import iso
from chalicelib.domain import coupon_codes, keys
from chalicelib.domain.coupon_use import (
    ReturnPolicy,
    check_usable,
    not_returned_because,
    pos_actor,
    replays,
)
from chalicelib.domain.coupons import Channel, Coupon, CouponNotFound, CouponRefused, CouponStatus, end_of
from chalicelib.domain.errors import Busy, Forbidden
from chalicelib.domain.events import DomainEvent
from chalicelib.observability import logger
from chalicelib.retry import backoff
from chalicelib.services import coupons
from chalicelib.settings import get_settings
from chalicelib.store import coupons_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork


@dataclass(frozen=True)
class Redemption:
    coupon: Coupon  # as used
    replayed: bool = False  # a retry of this very redemption, answered again


@dataclass(frozen=True)
class Returned:
    coupon: Coupon
    returned: bool  # the coupon is (now, or by an earlier call) given back for this order
    reason: str | None = None  # why not: policy_never | expired
    replayed: bool = False


@dataclass(frozen=True)
class _Use:
    used_by: str
    store_id: str | None
    order_id: str | None  # the order, a redemption's reference, or None


def redeem_in_store(
    presented: str, store_id: str, staff_userid: str, request_key: str | None, now: datetime
) -> Redemption:
    """A staff member redeems the coupon a member shows (QR payload, fresh) or tells (code)
    at a store. The coupon names its member: the request need not."""
    field = _field(presented)
    reference = None if request_key is None else staff_reference(staff_userid, request_key)
    return _redeem(coupons.resolve(presented, now), _Use(staff_userid, store_id, reference), field, now)


def redeem_at_pos(presented: str, store_id: str, order_id: str, client_id: str, now: datetime) -> Redemption:
    """A POS redeems a coupon for an order outside checkout; idempotent on the order id."""
    field = _field(presented)
    return _redeem(coupons.resolve(presented, now), _Use(pos_actor(client_id), store_id, order_id), field, now)


def stage_use(
    tx: UnitOfWork,
    coupon: Coupon,
    order_id: str,
    store_id: str | None,
    channel: Channel,
    now: datetime,
    *,
    used_by: str | None = None,
) -> str:
    """Checkout's use of a coupon, staged into its unit of work (points, wallet, order, one
    transaction). Refuses now (409 naming why) what cannot be used; else stages the update
    and its event and returns the tag: `failure.failed(tag)` after the commit means another
    use won, and `refusal(coupon, channel, store_id, now)` says what to answer."""
    check_usable(coupon, channel, store_id, now)
    tag = coupons_repo.stage_use(tx, coupon, used_by, store_id, order_id, now)
    tx.stage_event(_used_event(coupon, store_id, order_id, now))
    return tag


def refusal(coupon: Coupon, channel: Channel, store_id: str | None, now: datetime, field: str = "code") -> Exception:
    """After a refused use: the coupon as it is now, as the domain error to answer (409)."""
    current = coupons_repo.get(coupon.member_id, coupon.coupon_id)
    if current is None:
        return CouponNotFound("the coupon is gone", field=field)
    try:
        check_usable(current, channel, store_id, now, field)
    except CouponRefused as refused:
        return refused
    return Busy(f"the use of {coupon.coupon_id} was refused but it looks usable: retry")


def return_for_order(
    member_id: str, coupon_id: str, order_id: str, now: datetime, policy: ReturnPolicy | None = None
) -> Returned:
    """An order cancelled or refunded gives its coupon back, by the policy (default: the
    settings'), once: a retried or racing return answers the first."""
    coupon = coupons_repo.get(member_id, coupon_id)
    if coupon is None:
        raise CouponNotFound("no such coupon", field="coupon_id")
    return _return(coupon, order_id, now, policy or return_policy())


def return_at_pos(code: str, order_id: str, client_id: str, now: datetime) -> Returned:
    """A POS gives back a coupon it used on an order (never another client's use)."""
    coupon = coupons_repo.find_by_code(coupon_codes.normalise(code))
    if coupon is None:
        raise CouponNotFound("no coupon has this code", field="code")
    if coupon.used_by != pos_actor(client_id):
        raise Forbidden("the coupon was not used by this POS client", field="code")
    return _return(coupon, order_id, now, return_policy())


def return_policy() -> ReturnPolicy:
    raw = get_settings().coupon_return_policy
    try:
        return ReturnPolicy(raw)
    except ValueError:
        raise RuntimeError(f"COUPON_RETURN_POLICY must be never, while_valid or always, not {raw!r}") from None


def staff_reference(staff_userid: str, request_key: str) -> str:
    """A staff redemption's reference, kept as the coupon's order_id: `#` is in no order id."""
    digest = hashlib.sha256(keys.key("staff-redemption", staff_userid, request_key).encode()).hexdigest()
    return "staff#" + digest[:24]


def _field(presented: str) -> str:
    return "payload" if coupon_codes.is_payload(presented) else "code"


def _redeem(coupon: Coupon, use: _Use, field: str, now: datetime) -> Redemption:
    """Check, then one conditional update; a refused update reads the coupon again and the
    check (or the replay) answers: whoever lost a race hears who won."""
    for attempt in range(get_settings().tx_max_attempts):
        if replays(coupon, use.used_by, use.store_id, use.order_id):
            return Redemption(coupon, replayed=True)
        check_usable(coupon, Channel.IN_STORE, use.store_id, now, field)
        tx = UnitOfWork(get_settings().region)
        tag = coupons_repo.stage_use(tx, coupon, use.used_by, use.store_id, use.order_id, now)
        tx.stage_event(_used_event(coupon, use.store_id, use.order_id, now))
        outcome = _commit(tx, tag)
        if outcome == _Outcome.DONE:
            logger.info("coupon redeemed", extra={"coupon_id": coupon.coupon_id, "store_id": use.store_id})
            return Redemption(_as_used(coupon, use, now))
        if outcome == _Outcome.CONTENDED:
            backoff(attempt)
        coupon = _reread(coupon, field)
    raise Busy(f"the redemption of {coupon.coupon_id} kept meeting contention")


def _as_used(coupon: Coupon, use: _Use, now: datetime) -> Coupon:
    return replace(
        coupon,
        status=CouponStatus.USED,
        used_at=iso(now),
        used_by=use.used_by,
        used_store=use.store_id,
        order_id=use.order_id,
        returned_at=None,
    )


def stage_return(tx: UnitOfWork, coupon: Coupon, order_id: str, now: datetime, policy: ReturnPolicy) -> str | None:
    """A return staged into a caller's unit of work (a refund's): the tag, or None when the
    policy keeps the coupon used. 409 if the coupon was not used on this order."""
    if coupon.status != CouponStatus.USED or coupon.order_id != order_id:
        raise CouponRefused("the coupon was not used on this order", field="order_id", code="coupon_not_used_for_order")
    if not_returned_because(coupon, policy, now) is not None:
        return None
    timezone = get_settings().timezone
    due = coupons_repo.due_key(coupon, timezone) if now < end_of(coupon.valid_until) else None
    tag = coupons_repo.stage_return(tx, coupon, order_id, now, due)
    data = {"coupon_id": coupon.coupon_id, "title": coupon.terms.name, "order_id": order_id}
    tx.stage_event(
        DomainEvent(
            keys.key("coupon-returned", coupon.coupon_id, order_id, coupon.used_at or "-"),
            "coupon.returned",
            coupon.member_id,
            iso(now),
            data,
        )
    )
    return tag


def _return(coupon: Coupon, order_id: str, now: datetime, policy: ReturnPolicy) -> Returned:
    for attempt in range(get_settings().tx_max_attempts):
        if coupon.status == CouponStatus.RETURNED and coupon.order_id == order_id:
            return Returned(coupon, returned=True, replayed=True)
        tx = UnitOfWork(get_settings().region)
        tag = stage_return(tx, coupon, order_id, now, policy)
        if tag is None:
            return Returned(coupon, returned=False, reason=not_returned_because(coupon, policy, now))
        outcome = _commit(tx, tag)
        if outcome == _Outcome.DONE:
            logger.info("coupon returned", extra={"coupon_id": coupon.coupon_id, "order_id": order_id})
            return Returned(replace(coupon, status=CouponStatus.RETURNED, returned_at=iso(now)), returned=True)
        if outcome == _Outcome.CONTENDED:
            backoff(attempt)
        coupon = _reread(coupon, "code")
    raise Busy(f"the return of {coupon.coupon_id} kept meeting contention")


class _Outcome(Enum):
    DONE = "done"
    REFUSED = "refused"  # the coupon's condition did not hold: read it again
    CONTENDED = "contended"  # a transaction conflict or throttling: back off, read again


def _commit(tx: UnitOfWork, tag: str) -> _Outcome:
    try:
        tx.commit()
    except TransactionFailed as failure:
        if failure.failed(tag):
            return _Outcome.REFUSED
        if failure.retryable:
            return _Outcome.CONTENDED
        raise
    return _Outcome.DONE


def _reread(coupon: Coupon, field: str) -> Coupon:
    current = coupons_repo.get(coupon.member_id, coupon.coupon_id)
    if current is None:
        raise CouponNotFound("the coupon is gone", field=field)
    return current


def _used_event(coupon: Coupon, store_id: str | None, order_id: str | None, now: datetime) -> DomainEvent:
    """`coupon.used`: the member hears of every use of their coupon (a use they did not make
    shows at once). Its id is the coupon and this use's moment: one per use, whatever retries."""
    timezone = get_settings().timezone
    data = {
        "coupon_id": coupon.coupon_id,
        "title": coupon.terms.name,
        "store_id": store_id or "",
        "order_id": order_id or "",
        "used_at": f"{now.astimezone(ZoneInfo(timezone)):%Y-%m-%d %H:%M}",
        "where": f"门店 {store_id}" if store_id else "线上商城",
    }
    return DomainEvent(
        keys.key("coupon-used", coupon.coupon_id, iso(now)), "coupon.used", coupon.member_id, iso(now), data
    )
