"""The one place that reads the wall clock; services and jobs take `now` so tests control time.

Tests (and the local tools) may pin the clock: `pin(moment)` makes `utc_now()` start at
`moment` and tick on with the monotonic clock, so code that waits or measures elapsed time
still sees time pass, while every date it derives is the pinned one's. Nothing in Lambda
pins it.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_pinned: tuple[datetime, float] | None = None


def utc_now() -> datetime:
    if _pinned is not None:
        start, at = _pinned
        return start + timedelta(seconds=time.monotonic() - at)
    return datetime.now(UTC)


def epoch_seconds() -> float:
    """Unix time in seconds: signature windows, token expiry, leases."""
    return utc_now().timestamp()


def pin(moment: datetime) -> None:
    if moment.tzinfo is None:
        raise ValueError("pin() needs an aware datetime")
    global _pinned
    _pinned = (moment.astimezone(UTC), time.monotonic())


def pinned_at() -> datetime | None:
    """The instant the clock was pinned at (it has ticked on since), or None."""
    return None if _pinned is None else _pinned[0]


def unpin() -> None:
    global _pinned
    _pinned = None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def local_date(moment: datetime, timezone: str) -> date:
    """The brand's calendar day (Asia/Shanghai by default): expiry and birthdays follow it."""
    return moment.astimezone(ZoneInfo(timezone)).date()
