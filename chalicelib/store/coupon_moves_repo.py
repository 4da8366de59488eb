"""A merged member's coupons move to the survivor (会员合并), one coupon per transaction.

The transaction puts the coupon under the survivor (only if the survivor has no coupon of that
id), deletes it from the merged member (only if every attribute it was read with is still
there unchanged: a redemption, a return or the expiry job that got there first cancels the
move, which reads it again), re-points its code (only if the code still names the merged
member's coupon) and adds one to the survivor's claim count of the template, so the
per-member limit counts what the survivor now holds. One item of the coupon exists at every
moment: a use racing the move meets either the old item (and the move, refused, reads it
again) or no item (and resolves the code again, to the survivor's): used once either way.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pynamodb.attributes import JSONAttribute, ListAttribute, MapAttribute

from chalicelib.settings import get_settings
from chalicelib.store import coupon_templates_repo
from chalicelib.store.models import CouponCodeModel, CouponModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

TO = "coupon:move:to"
FROM = "coupon:move:from"
CODE = "coupon:move:code"
_KEYS = ("member_id", "coupon_id")


class Moved(Enum):
    DONE = "done"
    GONE = "gone"  # not under the merged member (any more): moved before, or never there
    CHANGED = "changed"  # changed (or moved) since it was read: read it again
    BUSY = "busy"  # contention: back off and read again
    STUCK = "stuck"  # the survivor holds that id, or the code names another coupon: left as it is


def coupon_ids(member_id: str, after: str | None, limit: int) -> tuple[list[str], str | None]:
    """A page of the member's coupon ids (keys only, consistent), and the last id if more may follow."""
    start = None if after is None else {"member_id": {"S": member_id}, "coupon_id": {"S": after}}
    results = CouponModel.query(
        member_id,
        consistent_read=True,
        limit=limit,
        page_size=limit,
        last_evaluated_key=start,
        attributes_to_get=list(_KEYS),
    )
    ids = [item.coupon_id for item in results]
    return ids, (ids[-1] if ids and results.last_evaluated_key is not None else None)


def move(merged_id: str, survivor_id: str, coupon_id: str) -> Moved:
    try:
        item = CouponModel.get(merged_id, coupon_id, consistent_read=True)
    except CouponModel.DoesNotExist:
        return Moved.GONE
    copy = CouponModel(
        survivor_id, coupon_id, **{name: value for name, value in item.attribute_values.items() if name not in _KEYS}
    )
    tx = UnitOfWork(get_settings().region)
    tx.put(TO, copy, condition=CouponModel.coupon_id.does_not_exist())
    tx.delete(FROM, CouponModel(merged_id, coupon_id), condition=_unchanged(item))
    tx.update(
        CODE,
        CouponCodeModel(item.code),
        actions=[CouponCodeModel.member_id.set(survivor_id)],
        condition=(CouponCodeModel.member_id == merged_id) & (CouponCodeModel.coupon_id == coupon_id),
    )
    coupon_templates_repo.stage_member_count(tx, item.template_id, survivor_id, None)
    try:
        tx.commit()
    except TransactionFailed as failure:
        if failure.failed(FROM):
            return Moved.CHANGED
        if failure.refused:
            return Moved.STUCK
        if failure.retryable:
            return Moved.BUSY
        raise
    return Moved.DONE


def _unchanged(item: CouponModel) -> Any:
    """Every scalar attribute as read (absent ones still absent): whatever a redemption, a return
    or the expiry job writes, now or as they grow, cancels the move. `terms` never change."""
    condition = CouponModel.coupon_id.exists()
    for name, attribute in CouponModel.get_attributes().items():
        if name in _KEYS or isinstance(attribute, JSONAttribute | MapAttribute | ListAttribute):
            continue
        value = getattr(item, name)
        condition &= attribute.does_not_exist() if value is None else attribute == value
    return condition
