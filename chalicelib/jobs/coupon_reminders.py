"""Expiring-coupon reminder (优惠券到期提醒): N days before a coupon's last valid day, for each N in
`COUPON_REMINDER_DAYS` (default 3). One reminder per coupon, end day and N: the event id is
`coupon-expiring:<coupon>:<end day>:<N>`, so a re-run (or a resumed page) sends nothing twice.

O(due): the sparse `due` index holds only coupons that can still be used (a use removes the
attribute, a return puts it back), sharded 16 ways by coupon; each page is read again from
the table, strongly consistent, because the index lags: a coupon used a moment ago, or
returned after its end, is not reminded. Consent rules are the sender's (notify/sender.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from chalicelib.clock import iso, local_date
from chalicelib.domain import keys
from chalicelib.domain.coupons import CouponStatus
from chalicelib.domain.events import DomainEvent
from chalicelib.jobs.daily import Source, run_days
from chalicelib.jobs.reminders import reminder_days
from chalicelib.settings import get_settings
from chalicelib.store import coupons_repo

NAME = "coupon-reminders"
KIND = "coupon.expiring"


def run(now: datetime) -> dict[str, int]:
    return run_days(NAME, now, sources)


def sources(day: date, now: datetime) -> list[Source]:
    found = []
    for days_left in reminder_days(get_settings().coupon_reminder_days):
        ends_on = day + timedelta(days=days_left)
        for shard in range(coupons_repo.DUE_SHARDS):
            found.append(
                Source(
                    f"{days_left}:{ends_on.isoformat()}#{shard:02d}",
                    partial(coupons_repo.coupons_due_on, ends_on, shard),
                    partial(remind, now, ends_on, days_left),
                )
            )
    return found


def remind(now: datetime, ends_on: date, days_left: int, page: list[list[Any]]) -> list[DomainEvent]:
    """The events of one page of `[member_id, coupon_id]`: only coupons still unused (or
    returned) now and still ending that day."""
    timezone = get_settings().timezone
    held = coupons_repo.get_many([(str(member_id), str(coupon_id)) for member_id, coupon_id in page])
    events = []
    for coupon in held:
        if coupon.status_at(now) not in (CouponStatus.UNUSED, CouponStatus.RETURNED):
            continue
        if local_date(coupon.valid_until, timezone) != ends_on:
            continue
        events.append(
            DomainEvent(
                keys.key("coupon-expiring", coupon.coupon_id, ends_on.isoformat(), str(days_left)),
                KIND,
                coupon.member_id,
                iso(now),
                {
                    "coupon_id": coupon.coupon_id,
                    "title": coupon.terms.name,
                    "ends_on": ends_on.isoformat(),
                    "days_left": (ends_on - local_date(now, timezone)).days,
                },
            )
        )
    return events
