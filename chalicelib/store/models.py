"""PynamoDB models: the one source of truth for every table.

`infra/tables.json` (CloudFormation) and the local tables are generated from these
classes (`python -m chalicelib.cli infra`); a test fails when they disagree.

PynamoDB fixes `Meta.table_name` when the class is defined, so settings are read here,
at import: the store package is imported lazily, after the environment is final.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.settings import table_settings

_settings = table_settings()


class _Meta:
    region = _settings.region
    billing_mode = "PAY_PER_REQUEST"
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 3


class MembersByBirthday(GlobalSecondaryIndex["MemberModel"]):  # type: ignore[no-untyped-call]
    """Sparse: only members with a birthday. The birthday job reads today's MM-DD only."""

    class Meta:
        index_name = "birthday"
        projection = KeysOnlyProjection()

    birthday_md = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute(range_key=True)


class MembersByActiveDay(GlobalSecondaryIndex["MemberModel"]):  # type: ignore[no-untyped-call]
    """Members by the local day of their last activity: the dormant job reads one day."""

    class Meta:
        index_name = "active-day"
        projection = KeysOnlyProjection()

    last_active_on = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute(range_key=True)


class MembersByTier(GlobalSecondaryIndex["MemberModel"]):  # type: ignore[no-untyped-call]
    """Campaign audiences page through one tier at a time."""

    class Meta:
        index_name = "tier"
        projection = KeysOnlyProjection()

    tier_code = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute(range_key=True)


class MemberModel(Model):
    """One item per member (会员). `version` guards every points change (optimistic lock)."""

    class Meta(_Meta):
        table_name = _settings.table_name("members")

    member_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute()
    version = NumberAttribute(default=0)
    balance = NumberAttribute(default=0)
    debt = NumberAttribute(default=0)
    ledger_seq = NumberAttribute(default=0)
    growth = NumberAttribute(default=0)
    tier_code = UnicodeAttribute(default="normal")
    nickname = UnicodeAttribute(null=True)
    gender = UnicodeAttribute(default="unknown")
    birthday = UnicodeAttribute(null=True)
    phone_enc = UnicodeAttribute(null=True)
    phone_masked = UnicodeAttribute(null=True)
    phone_hash = UnicodeAttribute(null=True)
    # Channels (one member across mini-program, official account and WeChat Work).
    unionid = UnicodeAttribute(null=True)
    mini_openid = UnicodeAttribute(null=True)
    mp_openid = UnicodeAttribute(null=True)
    mp_followed = BooleanAttribute(null=True)
    mp_follow_changed_at = NumberAttribute(null=True)  # CreateTime of the last (un)subscribe applied
    work_external_userid = UnicodeAttribute(null=True)
    work_follow_users = UnicodeSetAttribute(null=True)  # staff userids serving this member
    card_code = UnicodeAttribute(null=True)
    attribution = JSONAttribute(null=True)  # first store / referral scene that brought the member
    tags = UnicodeSetAttribute(null=True)
    merged_into = UnicodeAttribute(null=True)  # set on the member that a merge emptied
    recent_adjustments = JSONAttribute(null=True)  # [{operator, at, points}] of the last 24 h
    # Jobs find their work through these sparse indexes, never by scanning.
    birthday_md = UnicodeAttribute(null=True)
    last_active_on = UnicodeAttribute(null=True)
    by_birthday = MembersByBirthday()
    by_active_day = MembersByActiveDay()
    by_tier = MembersByTier()


class AliasesByMember(GlobalSecondaryIndex["IdentityModel"]):  # type: ignore[no-untyped-call]
    """A member's aliases, for merging two members into one."""

    class Meta:
        index_name = "member-aliases"
        projection = KeysOnlyProjection()

    member_id = UnicodeAttribute(hash_key=True)
    alias = UnicodeAttribute(range_key=True)


class IdentityModel(Model):
    """Alias → member (身份): `union:<unionid>`, `mini:<openid>`, `mp:<openid>`,
    `work:<external_userid>`, `phone:<keyed hash>`, `card:<code>`.

    Uniqueness of each alias is enforced by a conditional put."""

    class Meta(_Meta):
        table_name = _settings.table_name("identities")

    alias = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    by_member = AliasesByMember()


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


class ApprovalModel(Model):
    """A points adjustment above the threshold, waiting for a second operator (积分审核)."""

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


class CounterModel(Model):
    """Small counters that guard limits: an operator's daily adjustment total, failed sign-ins.
    Updated with ADD under a condition, inside the transaction they guard; gone by TTL."""

    class Meta(_Meta):
        table_name = _settings.table_name("counters")

    counter_id = UnicodeAttribute(hash_key=True)
    total = NumberAttribute(default=0)
    until = NumberAttribute(null=True)  # unix seconds (our clock) after which the count is void
    expires_at = TTLAttribute(null=True)  # housekeeping only: DynamoDB deletes within a day or two


class WeChatTokenModel(Model):
    """One shared access_token per WeChat app (`mini:<appid>`, `mp:<appid>`, `work:<corpid>`),
    with a lease so only one caller at a time fetches a new one."""

    class Meta(_Meta):
        table_name = _settings.table_name("wechat-tokens")

    app_key = UnicodeAttribute(hash_key=True)
    token = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # epoch seconds
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # epoch seconds


class CallbackModel(Model):
    """A WeChat callback already handled (by MsgId, or FromUserName+CreateTime+Event+EventKey),
    with the reply it got: a retry gets the same reply and no second effect."""

    class Meta(_Meta):
        table_name = _settings.table_name("callbacks")

    dedup_key = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()  # pending | done
    claimed_at = NumberAttribute()
    reply = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)


class MergeModel(Model):
    """A merge of one member into another (会员合并): its steps and audit trail."""

    approved_by = UnicodeAttribute(null=True)

    class Meta(_Meta):
        table_name = _settings.table_name("merges")

    merge_id = UnicodeAttribute(hash_key=True)  # the merged (emptied) member id
    survivor_id = UnicodeAttribute()
    status = UnicodeAttribute()  # started | done
    trigger = UnicodeAttribute()  # operator | login | phone | unionid
    operator = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    started_at = UnicodeAttribute()
    finished_at = UnicodeAttribute(null=True)
    detail = JSONAttribute(null=True)


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
    by_due = CampaignsDue()


class JobStateModel(Model):
    """Per scheduled job: the last local day fully done, and a lease against overlapping runs."""

    class Meta(_Meta):
        table_name = _settings.table_name("jobs")

    job_name = UnicodeAttribute(hash_key=True)
    done_through = UnicodeAttribute(null=True)  # ISO local date
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)
    detail = JSONAttribute(null=True)


ALL_MODELS: tuple[type[Model], ...] = (
    MemberModel,
    IdentityModel,
    LedgerEntryModel,
    PointsLotModel,
    ApprovalModel,
    CounterModel,
    WeChatTokenModel,
    CallbackModel,
    MergeModel,
    DeliveryModel,
    ConsentModel,
    CampaignModel,
    JobStateModel,
)
