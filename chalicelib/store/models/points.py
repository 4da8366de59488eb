"""The points ledger (积分流水), lots by expiry (积分批次), approvals (审核) and limit counters."""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class MemberLedgerIndex(GlobalSecondaryIndex["LedgerEntryModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "member-seq"
        projection = AllProjection()

    member_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)


class LedgerEntryModel(Model):
    """Points ledger (积分流水). The key is the idempotency key of the operation that wrote it."""

    class Meta(_Meta):
        table_name = _settings.table_name("points-ledger")

    entry_id = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute()
    seq = NumberAttribute()
    kind = UnicodeAttribute()
    delta = NumberAttribute()
    balance_after = NumberAttribute()
    debt_after = NumberAttribute(default=0)
    reason = UnicodeAttribute(null=True)
    source = UnicodeAttribute(null=True)
    operator = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    detail = JSONAttribute(null=True)
    refunded_fen = NumberAttribute(null=True)  # on order entries: refunds so far
    by_member = MemberLedgerIndex()


class LotsByExpiry(GlobalSecondaryIndex["PointsLotModel"]):  # type: ignore[no-untyped-call]
    """Lots by `<expires_on>#<shard>`: the expiry and reminder jobs read only the lots due on a
    day. Sharded because a rolling policy puts a month's lots on one date: one key would be a
    hot partition for every earning in that month."""

    class Meta:
        index_name = "expiry"
        projection = IncludeProjection(["remaining"])

    expiry_shard = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute(range_key=True)


class PointsLotModel(Model):
    """Points lot (积分批次): what is left of the points that expire on one date."""

    class Meta(_Meta):
        table_name = _settings.table_name("points-lots")

    member_id = UnicodeAttribute(hash_key=True)
    expires_on = UnicodeAttribute(range_key=True)
    remaining = NumberAttribute(default=0)
    expiry_shard = UnicodeAttribute(null=True)
    by_expiry = LotsByExpiry()


class ApprovalsByStatus(GlobalSecondaryIndex["ApprovalModel"]):  # type: ignore[no-untyped-call]
    """The approvals queue (审核队列): one status, newest first."""

    class Meta:
        index_name = "status-requested"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    requested_key = UnicodeAttribute(range_key=True)


class ApprovalsByMember(GlobalSecondaryIndex["ApprovalModel"]):  # type: ignore[no-untyped-call]
    """A member's requests (the merged member of a merge), newest first."""

    class Meta:
        index_name = "member-requested"
        projection = AllProjection()

    member_id = UnicodeAttribute(hash_key=True)
    requested_key = UnicodeAttribute(range_key=True)


class ApprovalsBySurvivor(GlobalSecondaryIndex["ApprovalModel"]):  # type: ignore[no-untyped-call]
    """Sparse: merge requests by their survivor, the other member a merge concerns."""

    class Meta:
        index_name = "survivor-requested"
        projection = AllProjection()

    survivor_id = UnicodeAttribute(hash_key=True)
    requested_key = UnicodeAttribute(range_key=True)


class ApprovalModel(Model):
    """A request waiting for a second operator (积分审核, 会员合并申请), and its decision."""

    class Meta(_Meta):
        table_name = _settings.table_name("approvals")

    approval_id = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute()
    points = NumberAttribute()
    reason = UnicodeAttribute()
    requested_by = UnicodeAttribute()
    requested_at = UnicodeAttribute()
    status = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    decided_by = UnicodeAttribute(null=True)
    decided_at = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)  # "adjust" (none before merges were approved) or "merge"
    detail = JSONAttribute(null=True)  # a merge's ids, trigger and preview of what would move
    rejection_reason = UnicodeAttribute(null=True)  # why the second operator said no (驳回)
    # `<requested_at>#<approval_id>`: the indexes' order, newest first (absent on items written
    # before the queue existed, which the indexes then do not list).
    requested_key = UnicodeAttribute(null=True)
    survivor_id = UnicodeAttribute(null=True)  # merges only: detail["survivor_id"], indexed
    by_status = ApprovalsByStatus()
    by_member = ApprovalsByMember()
    by_survivor = ApprovalsBySurvivor()


class CounterModel(Model):
    """Small counters that guard limits: an operator's daily adjustment total, failed sign-ins.
    Updated with ADD under a condition, inside the transaction they guard; gone by TTL."""

    class Meta(_Meta):
        table_name = _settings.table_name("counters")

    counter_id = UnicodeAttribute(hash_key=True)
    total = NumberAttribute(default=0)
    until = NumberAttribute(null=True)  # unix seconds (our clock) after which the count is void
    expires_at = TTLAttribute(null=True)  # housekeeping only: DynamoDB deletes within a day or two


class PendingByRelease(GlobalSecondaryIndex["PendingPointsModel"]):  # type: ignore[no-untyped-call]
    """Pending order points by release day, sharded like the lots' expiry index: the release
    job reads only what is due (O(due)); an item released or refunded leaves the index."""

    class Meta:
        index_name = "release"
        projection = KeysOnlyProjection()

    release_shard = UnicodeAttribute(hash_key=True)
    release_on = UnicodeAttribute(range_key=True)


class PendingByMember(GlobalSecondaryIndex["PendingPointsModel"]):  # type: ignore[no-untyped-call]
    """A member's pending orders: `GET /v1/me` shows when they are released; reconcile sums them."""

    class Meta:
        index_name = "member-release"
        projection = AllProjection()

    member_id = UnicodeAttribute(hash_key=True)
    release_on = UnicodeAttribute(range_key=True)


class PendingPointsModel(Model):
    """An order's points in their return window (冻结期): not spendable until `release_on`; a
    refund inside the window cancels them first. Keyed by the order's ledger entry."""

    class Meta(_Meta):
        table_name = _settings.table_name("points-pending")

    order_entry_id = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute()
    remaining = NumberAttribute()
    earned = NumberAttribute()
    release_on = UnicodeAttribute()
    expires_on = UnicodeAttribute()  # the lot the points join when released
    release_shard = UnicodeAttribute()
    by_release = PendingByRelease()
    by_member = PendingByMember()
