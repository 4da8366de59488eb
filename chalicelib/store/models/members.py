"""Members (会员) and their identities (aliases)."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


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


class MembersByTierDue(GlobalSecondaryIndex["MemberModel"]):  # type: ignore[no-untyped-call]
    """Sparse: members whose tier is reviewed (保级), by the next day the review job must look
    at them (a warning or the review), in `TIER_DUE_SHARDS` shards; the job reads what is due."""

    class Meta:
        index_name = "tier-due"
        projection = KeysOnlyProjection()

    tier_due_shard = UnicodeAttribute(hash_key=True)
    tier_due_on = UnicodeAttribute(range_key=True)


class MemberModel(Model):
    """One item per member (会员). `version` guards every points change (optimistic lock)."""

    class Meta(_Meta):
        table_name = _settings.table_name("members")

    member_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute()
    version = NumberAttribute(default=0)
    balance = NumberAttribute(default=0)
    debt = NumberAttribute(default=0)
    pending = NumberAttribute(null=True)  # 冻结期 points (services/pending.py); absent: none
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
    member_code = UnicodeAttribute(null=True)  # public 会员码 / invite code; its alias is `code:<code>`
    attribution = JSONAttribute(null=True)  # first store / referral scene that brought the member
    tags = UnicodeSetAttribute(null=True)
    merged_into = UnicodeAttribute(null=True)  # set on the member that a merge emptied
    recent_adjustments = JSONAttribute(null=True)  # [{operator, at, points}] of the last 24 h
    # Jobs find their work through these sparse indexes, never by scanning.
    birthday_md = UnicodeAttribute(null=True)
    last_active_on = UnicodeAttribute(null=True)
    # Privacy (个人信息保护): marketing consent (absent: granted) and the account's closing.
    marketing_consent = BooleanAttribute(null=True)
    marketing_changed_at = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)  # domain MemberStatus; absent: active
    deletion = JSONAttribute(null=True)  # who asked, when, and what the erasure did (replayed)
    by_birthday = MembersByBirthday()
    by_active_day = MembersByActiveDay()
    by_tier = MembersByTier()
    # Tier review (保级): growth by month {"2026-11": 320} (the last 24) and the review calendar.
    growth_months = JSONAttribute(null=True)
    tier_review_on = UnicodeAttribute(null=True)
    tier_upgraded_on = UnicodeAttribute(null=True)
    tier_warned_for = UnicodeAttribute(null=True)
    tier_due_on = UnicodeAttribute(null=True)
    tier_due_shard = UnicodeAttribute(null=True)
    by_tier_due = MembersByTierDue()


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
