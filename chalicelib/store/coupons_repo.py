"""The coupons members hold (CouponModel) and their codes (CouponCodeModel).

A claim stages the coupon under `coupon` (put only if its id, derived from the claim's key,
is new: the once-only guard, a replay finds the first) and its code under `coupon:code` (put
only if no coupon holds the code: a collision draws another). The redemption, return and
expiry writes of the coupon's lifecycle are conditional updates of the coupon item.
"""

from __future__ import annotations

import zlib
from datetime import date, datetime
from typing import Any

from chalicelib.clock import iso, local_date
from chalicelib.domain import coupon_rules
from chalicelib.domain.coupons import Coupon, CouponStatus
from chalicelib.store.jobs_repo import Cursor, page
from chalicelib.store.models import CouponCodeModel, CouponModel
from chalicelib.store.tx import UnitOfWork

COUPON = "coupon"
CODE = "coupon:code"
DUE_SHARDS = 16


def due_key(coupon: Coupon, timezone: str) -> str:
    """`<last valid day>#<nn>` (CouponsDue): the reminders' index, sharded by the coupon id."""
    shard = zlib.crc32(coupon.coupon_id.encode()) % DUE_SHARDS
    return f"{local_date(coupon.valid_until, timezone).isoformat()}#{shard:02d}"


def stage_new(tx: UnitOfWork, coupon: Coupon, request: str, timezone: str) -> None:
    item = CouponModel(
        coupon.member_id,
        coupon.coupon_id,
        template_id=coupon.template_id,
        code=coupon.code,
        title=coupon.terms.name,
        terms=coupon_rules.terms_to_dict(coupon.terms),
        valid_from=iso(coupon.valid_from),
        valid_until=iso(coupon.valid_until),
        status=coupon.status.value,
        claimed_at=coupon.claimed_at,
        source=coupon.source,
        request=request,
        due=due_key(coupon, timezone),
    )
    tx.put(COUPON, item, condition=CouponModel.coupon_id.does_not_exist())
    code = CouponCodeModel(coupon.code, member_id=coupon.member_id, coupon_id=coupon.coupon_id)
    tx.put(CODE, code, condition=CouponCodeModel.code.does_not_exist())


def get(member_id: str, coupon_id: str) -> Coupon | None:
    try:
        return _coupon(CouponModel.get(member_id, coupon_id, consistent_read=True))
    except CouponModel.DoesNotExist:
        return None


def member_coupons(member_id: str) -> list[Coupon]:
    """Every coupon of the member: one Query on their partition (strongly consistent: a
    coupon just claimed is listed)."""
    return [_coupon(item) for item in CouponModel.query(member_id, consistent_read=True)]


def find_by_code(code: str) -> Coupon | None:
    """The coupon a (normalised) code names: two consistent reads, so a coupon claimed a
    moment ago resolves at the counter."""
    try:
        owner = CouponCodeModel.get(code, consistent_read=True)
    except CouponCodeModel.DoesNotExist:
        return None
    return get(owner.member_id, owner.coupon_id)


def use_tag(coupon_id: str) -> str:
    """The tag of a coupon's use in a unit of work: refused, the coupon was not usable."""
    return f"coupon:use:{coupon_id}"


def return_tag(coupon_id: str) -> str:
    return f"coupon:return:{coupon_id}"


def stage_use(
    tx: UnitOfWork, coupon: Coupon, used_by: str | None, store_id: str | None, order_id: str | None, now: datetime
) -> str:
    """The redemption (核销): one conditional update, only if the coupon is still unused (or
    returned) and inside its window, so of two uses racing one wins. It leaves the reminders'
    index (`due` removed); `order_id` is the order, or a redemption's own reference."""
    item = CouponModel(coupon.member_id, coupon.coupon_id)
    actions = [
        CouponModel.status.set(CouponStatus.USED.value),
        CouponModel.used_at.set(iso(now)),
        _set_or_remove(CouponModel.used_by, used_by),
        _set_or_remove(CouponModel.used_store, store_id),
        _set_or_remove(CouponModel.order_id, order_id),
        CouponModel.returned_at.remove(),
        CouponModel.due.remove(),
    ]
    # valid_until is the window's last second: usable while now, to the second, is not past it.
    condition = (
        CouponModel.coupon_id.exists()
        & CouponModel.status.is_in(CouponStatus.UNUSED.value, CouponStatus.RETURNED.value)
        & (CouponModel.valid_from <= iso(now))
        & (CouponModel.valid_until >= iso(now.replace(microsecond=0)))
    )
    tag = use_tag(coupon.coupon_id)
    tx.update(tag, item, actions, condition=condition)
    return tag


def stage_return(tx: UnitOfWork, coupon: Coupon, order_id: str, now: datetime, due: str | None) -> str:
    """The return (退券) of a coupon used on `order_id`: only while it is used on that order,
    so a retried or racing return gives it back once. `due` puts it back in the reminders'
    index (None: past its end, nothing to remind)."""
    item = CouponModel(coupon.member_id, coupon.coupon_id)
    actions = [CouponModel.status.set(CouponStatus.RETURNED.value), CouponModel.returned_at.set(iso(now))]
    if due is not None:
        actions.append(CouponModel.due.set(due))
    condition = (CouponModel.status == CouponStatus.USED.value) & (CouponModel.order_id == order_id)
    tag = return_tag(coupon.coupon_id)
    tx.update(tag, item, actions, condition=condition)
    return tag


def coupons_due_on(day: date, shard: int, cursor: Cursor, limit: int) -> tuple[list[list[str]], Cursor]:
    """`[member_id, coupon_id]` of the coupons whose last valid day is `day`, in one shard of
    the sparse `due` index (only coupons that can still be used carry `due`)."""
    results = CouponModel.by_due.query(
        f"{day.isoformat()}#{shard:02d}", limit=limit, last_evaluated_key=cursor, page_size=limit
    )
    items, last = page(results, limit)
    return [[item.member_id, item.coupon_id] for item in items], last


def get_many(keys: list[tuple[str, str]]) -> list[Coupon]:
    """Coupons by (member_id, coupon_id), strongly consistent (the index they came from lags)."""
    unique = list(dict.fromkeys(keys))
    return [_coupon(item) for item in CouponModel.batch_get(unique, consistent_read=True)]


def _set_or_remove(attribute: Any, value: str | None) -> Any:
    return attribute.remove() if value is None else attribute.set(value)


def _coupon(item: CouponModel) -> Coupon:
    return Coupon(
        coupon_id=item.coupon_id,
        member_id=item.member_id,
        template_id=item.template_id,
        code=item.code,
        terms=coupon_rules.terms_from_dict(item.terms),
        valid_from=datetime.fromisoformat(item.valid_from),
        valid_until=datetime.fromisoformat(item.valid_until),
        status=CouponStatus(item.status),
        claimed_at=item.claimed_at,
        source=item.source,
        used_at=item.used_at,
        used_by=item.used_by,
        used_store=item.used_store,
        order_id=item.order_id,
        returned_at=item.returned_at,
    )
