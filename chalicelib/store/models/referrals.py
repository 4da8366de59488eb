"""Referrals (邀请有礼): one record per invitee, found by referrer and, while due, by day.

The person claims (one reward per person as an invitee, by unionid and by phone) and the
referrers' monthly counts live in the counters table (CounterModel), written in the reward's
transaction."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class ReferralsByReferrer(GlobalSecondaryIndex["ReferralModel"]):  # type: ignore[no-untyped-call]
    """A referrer's invitees, newest first (`GET /v1/me/referrals`)."""

    class Meta:
        index_name = "referrer-bound"
        projection = AllProjection()

    referrer_id = UnicodeAttribute(hash_key=True)
    bound_at = UnicodeAttribute(range_key=True)


class ReferralsDue(GlobalSecondaryIndex["ReferralModel"]):  # type: ignore[no-untyped-call]
    """Sparse: referrals whose first order waits out its return window, by the day it settles,
    in shards; the referral-rewards job reads what is due, never the table."""

    class Meta:
        index_name = "due"
        projection = KeysOnlyProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    settles_on = UnicodeAttribute(range_key=True)


class ReferralModel(Model):
    """An invitee's referral: put once (attribute_not_exists), its status moved under a
    condition on the status it was read in."""

    class Meta(_Meta):
        table_name = _settings.table_name("referrals")

    invitee_id = UnicodeAttribute(hash_key=True)
    referrer_id = UnicodeAttribute()
    code = UnicodeAttribute()  # the invite code the invitee arrived with
    via = UnicodeAttribute()  # login | mp
    bound_at = UnicodeAttribute()
    status = UnicodeAttribute()  # domain/referrals.py ReferralStatus
    reason = UnicodeAttribute(null=True)  # RefusalReason, when refused
    first_order_id = UnicodeAttribute(null=True)
    settles_on = UnicodeAttribute(null=True)  # YYYY-MM-DD, while due
    due_shard = UnicodeAttribute(null=True)  # set only while due (the sparse index)
    rewarded_at = UnicodeAttribute(null=True)
    referrer_points = NumberAttribute(null=True)
    invitee_points = NumberAttribute(null=True)
    by_referrer = ReferralsByReferrer()
    by_due = ReferralsDue()
