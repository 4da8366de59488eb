"""Check-ins (签到): a member's checked days and the summary their streaks are counted from."""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class CheckinModel(Model):
    """One item per member and day checked (`day` = YYYY-MM-DD, put once: the guard of one
    check-in a day), and the member's summary (`day` = `state`): the runs of consecutive days
    and the count of all, version-guarded. A month of the calendar is one Query on the
    member's partition (`day` begins with YYYY-MM)."""

    class Meta(_Meta):
        table_name = _settings.table_name("checkins")

    member_id = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)
    # A day.
    made_up = BooleanAttribute(null=True)  # 补签
    earned = NumberAttribute(null=True)
    cost = NumberAttribute(null=True)
    milestones = JSONAttribute(null=True)  # [{kind, day, points}] the check-in reached
    entry_id = UnicodeAttribute(null=True)  # its ledger entry
    at = UnicodeAttribute(null=True)
    # The summary.
    runs = JSONAttribute(null=True)  # [[start, end], ...] recent runs of consecutive days
    total = NumberAttribute(null=True)
    version = NumberAttribute(null=True)
