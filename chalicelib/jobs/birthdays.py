"""Birthday gift (生日礼): on a member's birthday, the points of their tier, the tier's birthday
coupon (`benefits.birthday_coupon_template`) and a greeting.

Members born on Feb 29 celebrate on Feb 28 in non-leap years. Once per member and year:
the ledger entry, the coupon's grant key and the `birthday.gift` event share the key
`birthday:<member>:<year>`. A coupon the template cannot give (unknown, paused, sold out, over
its limits or its window) is logged and counted (`coupon_refused`, `coupon_unknown`) and the
rest of the gift still goes; contention or an outage fails the page, which the next run takes
up again from the checkpoint, replaying what was given.
"""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import date, datetime
from functools import partial

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.coupons import CouponNotFound, CouponRefused
from chalicelib.domain.errors import MemberNotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.ledger import EntryNote
from chalicelib.domain.members import Member
from chalicelib.jobs.daily import Source, run_days
from chalicelib.observability import logger
from chalicelib.services import coupons, points, tiers
from chalicelib.store import jobs_repo, members_repo

NAME = "birthday-gifts"
REASON = "birthday_gift"


def run(now: datetime) -> dict[str, int]:
    counts: Counter[str] = Counter()
    done = run_days(NAME, now, partial(sources, counts=counts))
    return {**done, **counts}


def birthdays_on(day: date) -> list[str]:
    """The `MM-DD` birthdays celebrated on `day`."""
    month_days = [day.strftime("%m-%d")]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        month_days.append("02-29")
    return month_days


def sources(day: date, now: datetime, counts: Counter[str] | None = None) -> list[Source]:
    tally = Counter[str]() if counts is None else counts
    return [
        Source(
            f"birthday:{month_day}",
            partial(jobs_repo.members_with_birthday, month_day),
            partial(gift, now, day.year, counts=tally),
        )
        for month_day in birthdays_on(day)
    ]


def gift(now: datetime, year: int, member_ids: list[str], counts: Counter[str] | None = None) -> list[DomainEvent]:
    events = []
    for member_id in member_ids:
        event = grant_birthday_gift(member_id, year, now, counts)
        if event is not None:
            events.append(event)
    return events


def grant_birthday_gift(
    member_id: str, year: int, now: datetime, counts: Counter[str] | None = None
) -> DomainEvent | None:
    try:
        member = members_repo.get_member(member_id)
    except MemberNotFound:
        return None
    if member.merged_into or member.closed:  # merged away, or closed (the index may still list them)
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
    data.update(birthday_coupon(member, key, now, Counter() if counts is None else counts))
    return DomainEvent(key, "birthday.gift", member_id, iso(now), data)


def birthday_coupon(member: Member, key: str, now: datetime, counts: Counter[str]) -> dict[str, object]:
    """The tier's birthday coupon, granted once under the gift's key: `{coupon, coupon_id}` for
    the greeting, or nothing when the tier has none or the template cannot give one."""
    rules = tiers.rules()
    tier = rules.tier(member.tier_code) or rules.tiers[0]  # an unknown tier: the lowest's benefits
    template_id = tier.benefits.birthday_coupon_template
    if not template_id:
        return {}
    where = {"member_id": member.member_id, "template_id": template_id}
    try:
        coupon = coupons.grant(template_id, member.member_id, key, now, source="birthday")
    except CouponNotFound:
        counts["coupon_unknown"] += 1
        logger.warning("birthday coupon: no such template", extra=where)
        return {}
    except CouponRefused as refused:
        counts["coupon_refused"] += 1
        logger.warning("birthday coupon refused", extra={**where, "reason": refused.code})
        return {}
    except MemberNotFound:  # closed since it was read
        return {}
    counts["coupons"] += 1
    return {"coupon": coupon.terms.name, "coupon_id": coupon.coupon_id}
