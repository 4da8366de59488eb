"""Notifications: deliveries, consents, campaigns (营销推送)."""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class DeliveryModel(Model):
    """One notification sent (or given up) per event and channel: SQS redelivery never sends twice."""

    class Meta(_Meta):
        table_name = _settings.table_name("deliveries")

    delivery_id = UnicodeAttribute(hash_key=True)  # <event_id>#<channel>
    member_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # sent | skipped | failed
    detail = JSONAttribute(null=True)
    created_at = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)


class ConsentModel(Model):
    """Mini-program subscribe-message consents (订阅消息): each accepted request allows one send."""

    class Meta(_Meta):
        table_name = _settings.table_name("consents")

    member_id = UnicodeAttribute(hash_key=True)
    template_id = UnicodeAttribute(range_key=True)
    remaining = NumberAttribute(default=0)
    updated_at = UnicodeAttribute(null=True)


class CampaignsDue(GlobalSecondaryIndex["CampaignModel"]):  # type: ignore[no-untyped-call]
    """Sparse: only campaigns still to queue (scheduled or sending) carry `pending`, so the
    campaigns job reads what is due, never the finished history."""

    class Meta:
        index_name = "due"
        projection = KeysOnlyProjection()

    pending = UnicodeAttribute(hash_key=True)  # always "due"; removed once queued or cancelled
    send_at = UnicodeAttribute(range_key=True)


class CampaignModel(Model):
    """A campaign push (营销推送): audience, template, send time, progress and counts."""

    class Meta(_Meta):
        table_name = _settings.table_name("campaigns")

    campaign_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    template = UnicodeAttribute()
    audience = JSONAttribute()
    send_at = UnicodeAttribute()
    status = UnicodeAttribute()  # scheduled | sending | queued | cancelled
    pending = UnicodeAttribute(null=True)  # "due" while scheduled or sending (sparse `due` index)
    created_by = UnicodeAttribute()
    created_at = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    cursor = JSONAttribute(null=True)  # where the audience paging stopped
    queued = NumberAttribute(default=0)
    sent = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    skipped = NumberAttribute(default=0)
    coupon_template_id = UnicodeAttribute(null=True)  # a coupon granted to each recipient messaged
    coupons_granted = NumberAttribute(null=True)
    coupons_refused = NumberAttribute(null=True)  # sold out, paused, a member limit: the message still goes
    by_due = CampaignsDue()
