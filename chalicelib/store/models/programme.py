"""The loyalty programme's versions (会员方案): one item per version, and a head item naming
the current one."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class ProgrammeVersionModel(Model):
    """`version` 0 is the head: `current` names the version in force. Versions are never
    changed once written: a change is a new version."""

    class Meta(_Meta):
        table_name = _settings.table_name("programme")

    programme_id = UnicodeAttribute(hash_key=True)  # "default": one programme per stack today
    version = NumberAttribute(range_key=True)
    current = NumberAttribute(null=True)  # head only
    document = JSONAttribute(null=True)  # the validated programme
    created_at = UnicodeAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)
