"""Operator accounts (运营账号) and the audit trail (操作审计): who changed what, append-only."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class OperatorModel(Model):
    class Meta(_Meta):
        table_name = _settings.table_name("operators")

    operator_id = UnicodeAttribute(hash_key=True)
    role = UnicodeAttribute()
    display_name = UnicodeAttribute()
    status = UnicodeAttribute(default="active")
    password_hash = UnicodeAttribute(null=True)  # argon2id, with its parameters
    key_hashes = JSONAttribute(null=True)  # key id → sha256 hex of a script key
    generation = NumberAttribute(default=0)  # tokens of an older generation are revoked
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    wecom_userid = UnicodeAttribute(null=True)  # 企业微信 userid, for the operator's notifications


class AuditByTarget(GlobalSecondaryIndex["AuditModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "audit-target"
        projection = AllProjection()

    target = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)


class AuditByOperator(GlobalSecondaryIndex["AuditModel"]):  # type: ignore[no-untyped-call]
    class Meta:
        index_name = "audit-operator"
        projection = AllProjection()

    operator = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)


class AuditByMonth(GlobalSecondaryIndex["AuditModel"]):  # type: ignore[no-untyped-call]
    """Everything, newest first, one partition per local month: the unfiltered listing."""

    class Meta:
        index_name = "audit-month"
        projection = AllProjection()

    month = UnicodeAttribute(hash_key=True)
    at_id = UnicodeAttribute(range_key=True)


class AuditModel(Model):
    """One entry per audited request, written in the transaction of its effect. Never updated
    or deleted by the application (the IAM policy grants no UpdateItem/DeleteItem on it)."""

    class Meta(_Meta):
        table_name = _settings.table_name("audit")

    audit_id = UnicodeAttribute(hash_key=True)  # the request id: one entry per request
    at = UnicodeAttribute()  # ISO 8601 UTC
    at_id = UnicodeAttribute()  # `at#audit_id`: the indexes' sort key
    month = UnicodeAttribute()  # YYYY-MM in the brand's calendar
    operator = UnicodeAttribute()
    role = UnicodeAttribute()
    action = UnicodeAttribute()  # "POST /admin/members/{member_id}/points/adjustments"
    target = UnicodeAttribute()  # "member:M1", "approval:…", "operator:…"
    request_id = UnicodeAttribute()
    before = JSONAttribute(null=True)  # summaries: no secrets, no raw phone numbers
    after = JSONAttribute(null=True)
    via = UnicodeAttribute(null=True)  # the route's target when the entry names another

    by_target = AuditByTarget()
    by_operator = AuditByOperator()
    by_month = AuditByMonth()
