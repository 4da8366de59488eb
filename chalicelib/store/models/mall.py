"""The points mall (积分商城): rewards with their stock, members' redemption counts and partner
code pools (one table, one item per key), and the redemptions members made."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class RewardsListed(GlobalSecondaryIndex["MallRewardModel"]):  # type: ignore[no-untyped-call]
    """Sparse: only reward items carry `listed`, so the mall and the console list rewards
    without reading a counter or a code."""

    class Meta:
        index_name = "listed"
        projection = AllProjection()

    listed = UnicodeAttribute(hash_key=True)  # always "reward"
    created_at = UnicodeAttribute(range_key=True)


class CodesPool(GlobalSecondaryIndex["MallRewardModel"]):  # type: ignore[no-untyped-call]
    """Sparse: a partner code carries `pool` (its reward id) until it is claimed, so a
    redemption finds unclaimed codes without reading the claimed ones."""

    class Meta:
        index_name = "pool"
        projection = IncludeProjection(["code"])

    pool = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class MallRewardModel(Model):
    """`<reward_id>`: the reward (its definition, version-guarded; status; `remaining` and
    `redeemed` units, moved by redemptions under `remaining >= quantity`);
    `<reward_id>#m#<member_id>`: what a member redeemed of it, in all and in the current period;
    `<reward_id>#c#<sha256 of the code>`: a partner code, put once, claimed once."""

    class Meta(_Meta):
        table_name = _settings.table_name("mall-rewards")

    pk = UnicodeAttribute(hash_key=True)
    # The reward.
    version = NumberAttribute(null=True)
    status = UnicodeAttribute(null=True)  # active | paused
    definition = JSONAttribute(null=True)
    fingerprint = UnicodeAttribute(null=True)  # of the creating request: a replay answers it again
    title = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)
    remaining = NumberAttribute(null=True)
    redeemed = NumberAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    updated_by = UnicodeAttribute(null=True)
    listed = UnicodeAttribute(null=True)
    # A member's count.
    total = NumberAttribute(null=True)
    period_key = UnicodeAttribute(null=True)
    period_count = NumberAttribute(null=True)
    # A partner code.
    code = UnicodeAttribute(null=True)
    pool = UnicodeAttribute(null=True)  # while unclaimed (CodesPool)
    claimed_by = UnicodeAttribute(null=True)
    redemption_id = UnicodeAttribute(null=True)
    claimed_at = UnicodeAttribute(null=True)
    by_listed = RewardsListed()
    by_pool = CodesPool()


class FulfilmentsByStatus(GlobalSecondaryIndex["MallRedemptionModel"]):  # type: ignore[no-untyped-call]
    """Sparse: a physical gift's redemption carries `fulfilment` (its status), so operators
    list what is pending (or shipped…) oldest first, never the table."""

    class Meta:
        index_name = "fulfilment"
        projection = AllProjection()

    fulfilment = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class RedemptionsById(GlobalSecondaryIndex["MallRedemptionModel"]):  # type: ignore[no-untyped-call]
    """A redemption id → its member (the console names a fulfilment by its id alone)."""

    class Meta:
        index_name = "redemption"
        projection = KeysOnlyProjection()

    redemption_id = UnicodeAttribute(hash_key=True)


class RedemptionsAwaitingPayment(GlobalSecondaryIndex["MallRedemptionModel"]):  # type: ignore[no-untyped-call]
    """Sparse: a points + cash gift carries `unpaid_shard` and `unpaid_until` (its payment's
    deadline) only while awaiting payment, so the settle job asks WeChat Pay about those, never
    the table (4 shards: no hot partition)."""

    class Meta:
        index_name = "awaiting-payment"
        projection = KeysOnlyProjection()

    unpaid_shard = UnicodeAttribute(hash_key=True)
    unpaid_until = UnicodeAttribute(range_key=True)


class MallRedemptionModel(Model):
    """A redemption, in its member's partition (their list is one Query). Put once, with the
    points it took, in the points transaction; its status moves under a condition on the
    status it was read in."""

    class Meta(_Meta):
        table_name = _settings.table_name("mall-redemptions")

    member_id = UnicodeAttribute(hash_key=True)
    redemption_id = UnicodeAttribute(range_key=True)
    reward_id = UnicodeAttribute()
    reward_name = UnicodeAttribute()
    kind = UnicodeAttribute()  # domain RewardKind
    quantity = NumberAttribute()
    points = NumberAttribute()
    status = UnicodeAttribute()  # domain RedemptionStatus
    created_at = UnicodeAttribute()
    entry_id = UnicodeAttribute()
    lots = JSONAttribute()  # [{"expires_on", "points"}]: the lots the points were taken from
    period_key = UnicodeAttribute(null=True)  # the member count's period it was counted in
    coupon_id = UnicodeAttribute(null=True)
    coupon_code = UnicodeAttribute(null=True)
    partner_code = UnicodeAttribute(null=True)
    address = JSONAttribute(null=True)  # name, phone_masked, region, detail
    phone_enc = UnicodeAttribute(null=True)
    fulfilment = UnicodeAttribute(null=True)  # physical gifts: the status again (FulfilmentsByStatus)
    carrier = UnicodeAttribute(null=True)
    tracking_no = UnicodeAttribute(null=True)
    shipped_at = UnicodeAttribute(null=True)
    shipped_by = UnicodeAttribute(null=True)
    delivered_at = UnicodeAttribute(null=True)
    cancelled_at = UnicodeAttribute(null=True)
    cancelled_by = UnicodeAttribute(null=True)
    cancel_reason = UnicodeAttribute(null=True)
    refund_entry_id = UnicodeAttribute(null=True)
    into_today = NumberAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    # A points + cash gift's WeChat Pay part (domain CashPart).
    cash_fen = NumberAttribute(null=True)  # in all
    trade_no = UnicodeAttribute(null=True)
    openid = UnicodeAttribute(null=True)
    expires_at = UnicodeAttribute(null=True)
    prepay_id = UnicodeAttribute(null=True)
    pay_timestamp = UnicodeAttribute(null=True)
    pay_nonce = UnicodeAttribute(null=True)
    transaction_id = UnicodeAttribute(null=True)
    paid_at = UnicodeAttribute(null=True)
    unpaid_shard = UnicodeAttribute(null=True)  # while awaiting payment (RedemptionsAwaitingPayment)
    unpaid_until = UnicodeAttribute(null=True)
    by_fulfilment = FulfilmentsByStatus()
    by_id = RedemptionsById()
    by_unpaid = RedemptionsAwaitingPayment()
