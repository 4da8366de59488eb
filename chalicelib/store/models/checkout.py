"""Checkouts (收银结算): one item per POS order that took a coupon, points or the wallet."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class CheckoutsByTradeNo(GlobalSecondaryIndex["CheckoutModel"]):  # type: ignore[no-untyped-call]
    """The WeChat Pay part's out_trade_no → the checkout (a pay notification names only that)."""

    class Meta:
        index_name = "trade-no"
        projection = KeysOnlyProjection()

    trade_no = UnicodeAttribute(hash_key=True)


class CheckoutsHeld(GlobalSecondaryIndex["CheckoutModel"]):  # type: ignore[no-untyped-call]
    """Sparse, sharded: checkouts waiting for their WeChat Pay part, by when the hold ends;
    the settle job reads only those."""

    class Meta:
        index_name = "held-until"
        projection = KeysOnlyProjection()

    held_shard = UnicodeAttribute(hash_key=True)
    held_until = UnicodeAttribute(range_key=True)


class CheckoutsByMember(GlobalSecondaryIndex["CheckoutModel"]):  # type: ignore[no-untyped-call]
    """A member's checkouts (the privacy export, the merge's follow-up)."""

    class Meta:
        index_name = "member-created"
        projection = KeysOnlyProjection()

    member_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class CheckoutModel(Model):
    """The checkout of `order_id`: its status and version (every change is guarded by both) and
    its plan as one document (`state`: the lines with their parts, the coupons, the lots the
    points came from, the wallet split, the WeChat Pay order, the refunds' tallies)."""

    class Meta(_Meta):
        table_name = _settings.table_name("checkouts")

    order_id = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute()
    pos_client = UnicodeAttribute()
    status = UnicodeAttribute()  # domain/checkout.py CheckoutStatus
    version = NumberAttribute()
    created_at = UnicodeAttribute()
    state = JSONAttribute()
    trade_no = UnicodeAttribute(null=True)
    held_shard = UnicodeAttribute(null=True)  # set only while held (the sparse index)
    held_until = UnicodeAttribute(null=True)
    by_trade_no = CheckoutsByTradeNo()
    by_held = CheckoutsHeld()
    by_member = CheckoutsByMember()
