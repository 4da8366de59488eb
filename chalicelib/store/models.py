"""PynamoDB models: the one source of truth for every table.

`infra/tables.json` (CloudFormation) and the local tables are generated from these
classes (`python -m chalicelib.cli infra`); a test fails when they disagree.

PynamoDB fixes `Meta.table_name` when the class is defined, so settings are read here,
at import: the store package is imported lazily, after the environment is final.
"""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.settings import table_settings

_settings = table_settings()


class _Meta:
    region = _settings.region
    billing_mode = "PAY_PER_REQUEST"
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 3


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


class IdentityModel(Model):
    """Alias → member (身份): `union:<unionid>`, `mini:<openid>`, `phone:<keyed hash>`.

    Uniqueness of each alias is enforced by a conditional put."""

    class Meta(_Meta):
        table_name = _settings.table_name("identities")

    alias = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute()
    created_at = UnicodeAttribute()


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


class PointsLotModel(Model):
    """Points lot (积分批次): what is left of the points that expire on one date."""

    class Meta(_Meta):
        table_name = _settings.table_name("points-lots")

    member_id = UnicodeAttribute(hash_key=True)
    expires_on = UnicodeAttribute(range_key=True)
    remaining = NumberAttribute(default=0)


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


ALL_MODELS: tuple[type[Model], ...] = (
    MemberModel,
    IdentityModel,
    LedgerEntryModel,
    PointsLotModel,
    ApprovalModel,
)
