"""Bulk points grants (批量发放积分): the grant record and its member list in chunks."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class GrantsRunning(GlobalSecondaryIndex["GrantModel"]):  # type: ignore[no-untyped-call]
    """Sparse: only running grants carry `running`, so the grants job reads the work there is,
    never the finished history."""

    class Meta:
        index_name = "running"
        projection = KeysOnlyProjection()

    running = UnicodeAttribute(hash_key=True)  # always "running"; removed once done or failed
    requested_at = UnicodeAttribute(range_key=True)


class GrantModel(Model):
    """One bulk grant: what it gives, who asked and approved, and its progress. The progress
    (`next_chunk`, `done`, `failed`, `failures`) moves in one conditional write per chunk."""

    class Meta(_Meta):
        table_name = _settings.table_name("grants")

    grant_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()  # pending_approval | running | done | failed
    points = NumberAttribute()  # per member; negative for a deduction
    reason = UnicodeAttribute()
    source = UnicodeAttribute()  # csv | audience
    audience = JSONAttribute(null=True)
    requested_by = UnicodeAttribute()
    requested_at = UnicodeAttribute()
    fingerprint = UnicodeAttribute()
    total = NumberAttribute()  # distinct members
    chunks = NumberAttribute()
    next_chunk = NumberAttribute(default=0)  # the checkpoint: chunks before it are counted
    done = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    failures = JSONAttribute(null=True)  # the first failures: [{member_id, reason, line}]
    failed_by_reason = JSONAttribute(null=True)  # reason → count
    approval_id = UnicodeAttribute(null=True)
    approved_by = UnicodeAttribute(null=True)
    approved_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    errors = NumberAttribute(null=True)  # unexpected errors on the current chunk
    last_error = UnicodeAttribute(null=True)
    running = UnicodeAttribute(null=True)  # "running" while running (sparse `running` index)
    by_running = GrantsRunning()


class GrantChunkModel(Model):
    """Up to 500 member ids of a grant (and the CSV line each came from); once the chunk is
    counted, every failure of it with its reason."""

    class Meta(_Meta):
        table_name = _settings.table_name("grant-chunks")

    grant_id = UnicodeAttribute(hash_key=True)
    chunk = NumberAttribute(range_key=True)
    member_ids = JSONAttribute()  # [member id, ...]
    lines = JSONAttribute(null=True)  # [CSV line number, ...], parallel to member_ids
    failures = JSONAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
