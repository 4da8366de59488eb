"""Member merges (会员合并)."""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


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
