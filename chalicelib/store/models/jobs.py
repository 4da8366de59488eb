"""Scheduled jobs' state."""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class JobStateModel(Model):
    """Per scheduled job: the last local day fully done, and a lease against overlapping runs."""

    class Meta(_Meta):
        table_name = _settings.table_name("jobs")

    job_name = UnicodeAttribute(hash_key=True)
    done_through = UnicodeAttribute(null=True)  # ISO local date
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)
    detail = JSONAttribute(null=True)
