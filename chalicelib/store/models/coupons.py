"""Coupons (优惠券): templates with their stock shards and claim counters, the coupons members
hold, and the codes that find them."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class TemplatesListed(GlobalSecondaryIndex["CouponTemplateModel"]):  # type: ignore[no-untyped-call]
    """Sparse: only template items carry `listed`, so the console lists templates, newest
    first, without reading a shard or a counter."""

    class Meta:
        index_name = "listed"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)  # always "template"
    created_at = UnicodeAttribute(range_key=True)


class CouponTemplateModel(Model):
    """One item per key, each its own partition (a flash sale spreads over them):
    `<template_id>` the template (its definition, version-guarded; status);
    `<template_id>#s<nn>` a stock shard (`remaining`, `claimed`, `open` mirrors the status);
    `<template_id>#m#<member_id>` what a member claimed in all, and
    `<template_id>#m#<member_id>#<YYYY-MM-DD>` on one Shanghai day (gone by TTL)."""

    class Meta(_Meta):
        table_name = _settings.table_name("coupon-templates")

    pk = UnicodeAttribute(hash_key=True)
    # The template.
    version = NumberAttribute(null=True)
    status = UnicodeAttribute(null=True)  # active | paused
    definition = JSONAttribute(null=True)
    fingerprint = UnicodeAttribute(null=True)  # of the creating request: a replay answers it again
    shards = NumberAttribute(null=True)
    title = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    updated_by = UnicodeAttribute(null=True)
    listed = UnicodeAttribute(null=True)
    # A shard; `claimed` also on the counters.
    remaining = NumberAttribute(null=True)
    claimed = NumberAttribute(null=True)
    open = BooleanAttribute(null=True)
    expires_at = TTLAttribute(null=True)  # day counters only
    by_listed = TemplatesListed()


class CouponsDue(GlobalSecondaryIndex["CouponModel"]):  # type: ignore[no-untyped-call]
    """Sparse, for the expiry reminders: a coupon carries `due` (`<last valid day>#<shard>`)
    while it can still be used, so the job reads the coupons ending on a day, never the table.
    Sharded: a fixed window ends every coupon of a flash sale on one day."""

    class Meta:
        index_name = "due"
        projection = IncludeProjection(["template_id", "title", "valid_until"])

    due = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute(range_key=True)


class CouponModel(Model):
    """A coupon a member holds, in the member's partition (their list is one Query). The id
    is derived from the claim's idempotency key: the claim's put `attribute_not_exists` is its
    once-only guard. `terms` are the template's rules at claim time."""

    class Meta(_Meta):
        table_name = _settings.table_name("coupons")

    member_id = UnicodeAttribute(hash_key=True)
    coupon_id = UnicodeAttribute(range_key=True)
    template_id = UnicodeAttribute()
    code = UnicodeAttribute()
    title = UnicodeAttribute()
    terms = JSONAttribute()
    valid_from = UnicodeAttribute()  # ISO 8601 UTC
    valid_until = UnicodeAttribute()  # its last second
    status = UnicodeAttribute()  # unused | used | returned | expired (domain CouponStatus)
    claimed_at = UnicodeAttribute()
    source = UnicodeAttribute()  # claim | grant:<source>
    request = UnicodeAttribute()  # the claim's key (its template is the fingerprint)
    due = UnicodeAttribute(null=True)  # while usable: `<YYYY-MM-DD>#<nn>` (CouponsDue)
    # Redemption (核销) and return, written by the redemption's conditional update.
    used_at = UnicodeAttribute(null=True)
    used_by = UnicodeAttribute(null=True)  # staff user id or POS client
    used_store = UnicodeAttribute(null=True)
    order_id = UnicodeAttribute(null=True)
    returned_at = UnicodeAttribute(null=True)
    by_due = CouponsDue()


class CouponCodeModel(Model):
    """A code → its coupon, put with the coupon only if no coupon holds the code: codes are
    unique by this guard, not by luck. Read consistently, so a coupon just claimed resolves."""

    class Meta(_Meta):
        table_name = _settings.table_name("coupon-codes")

    code = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute()
    coupon_id = UnicodeAttribute()
