"""The one place that reads the wall clock; services and jobs take `now` so tests control time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def local_date(moment: datetime, timezone: str) -> date:
    """The brand's calendar day (Asia/Shanghai by default): expiry and birthdays follow it."""
    return moment.astimezone(ZoneInfo(timezone)).date()
