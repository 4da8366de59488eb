"""Birthday gift (生日礼): on a member's birthday, the points of their tier and a greeting.

Members born on Feb 29 celebrate on Feb 28 in non-leap years. Once per member and year:
the ledger entry and the `birthday.gift` event share the key `birthday:<member>:<year>`.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from functools import partial

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.errors import MemberNotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.ledger import EntryNote
from chalicelib.jobs.daily import Source, run_days
from chalicelib.services import points, tiers
from chalicelib.store import jobs_repo, members_repo

NAME = "birthday-gifts"
REASON = "birthday_gift"


def run(now: datetime) -> dict[str, int]:
    return run_days(NAME, now, sources)


def birthdays_on(day: date) -> list[str]:
    """The `MM-DD` birthdays celebrated on `day`."""
    month_days = [day.strftime("%m-%d")]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        month_days.append("02-29")
    return month_days


def sources(day: date, now: datetime) -> list[Source]:
    return [
        Source(
            f"birthday:{month_day}", partial(jobs_repo.members_with_birthday, month_day), partial(gift, now, day.year)
        )
        for month_day in birthdays_on(day)
    ]


def gift(now: datetime, year: int, member_ids: list[str]) -> list[DomainEvent]:
    events = []
    for member_id in member_ids:
        event = grant_birthday_gift(member_id, year, now)
        if event is not None:
            events.append(event)
    return events


def grant_birthday_gift(member_id: str, year: int, now: datetime) -> DomainEvent | None:
    try:
        member = members_repo.get_member(member_id)
    except MemberNotFound:
        return None
    if member.merged_into:
        return None
    key = keys.key("birthday", member_id, str(year))
    gift_points = int(tiers.tier_config(member.tier_code).get("birthday_gift_points") or 0)
    data: dict[str, object] = {"points": 0, "balance": member.balance, "tier_name": tiers.tier_name(member.tier_code)}
    if gift_points > 0:
        # The request names neither the tier nor the points: a re-run after a tier change
        # replays the gift recorded under the key instead of conflicting with it.
        op = points.operation(key, {"member_id": member_id, "year": year, "gift": REASON}, now)
        # Not an EARN entry: a gift is not the member's own activity (the dormant job's clock).
        entry = points.earn(
            member_id, gift_points, op, kind=kinds.ADJUST, note=EntryNote(reason=REASON, operator="system")
        )
        data.update(points=entry.delta, balance=entry.balance_after)
    return DomainEvent(key, "birthday.gift", member_id, iso(now), data)
