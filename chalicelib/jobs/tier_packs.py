"""Tier benefit packs (等级权益券包): on the 1st of each month, every member of a tier gets the
coupons its `benefits.monthly_coupons` name (e.g. 金卡: two 满200减30).

The members come from the keys-only `tier` index, one tier at a time, a page at a time
(jobs/daily.py: watermark and checkpoints, so a missed 1st is caught up on a later day and a
run that dies is finished by the next): the job costs the members of the tiers with a pack,
never the table. Each page's members are read again (one consistent BatchGetItem): the index
may lag a tier change, so a member is given the pack of the tier they hold when the page is
handled, and a member merged away or closed gets nothing.

Each coupon is a grant (services/coupons.py) under the key `pack:<member>:<YYYY-MM>:<template>:<n>`,
n = 1…count: a re-run, a resumed page or two runs at once give nothing twice. A template that
cannot give (unknown, paused, sold out, its window over) is logged, counted and not asked again
in this run; a member over the template's per-member limit is counted and the others go on.
Contention or an outage fails the page: the next run resumes it, replaying what was given.
The month is the local (Asia/Shanghai) month of the day processed, not of the wall clock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial

from chalicelib.domain import keys
from chalicelib.domain.coupons import CouponNotFound, CouponRefused
from chalicelib.domain.errors import MemberNotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.members import Member
from chalicelib.domain.programme import MonthlyCoupons
from chalicelib.jobs.daily import Source, run_days
from chalicelib.observability import logger
from chalicelib.services import coupons, tiers
from chalicelib.store import campaigns_repo
from chalicelib.store.jobs_repo import Cursor

NAME = "tier-coupon-packs"
SOURCE = "tier_pack"  # the coupons' source: `grant:tier_pack`
# Refusals that hold for every member alike: the template is not asked again this run.
TEMPLATE_REFUSALS = frozenset({"coupon_paused", "coupon_sold_out", "coupon_claim_ended"})


@dataclass
class _Run:
    now: datetime
    counts: Counter[str] = field(default_factory=Counter)
    spent: set[str] = field(default_factory=set)  # templates that cannot give this run


def run(now: datetime) -> dict[str, int]:
    state = _Run(now)
    done = run_days(NAME, now, partial(sources, state=state))
    return {**done, **state.counts}


def sources(day: date, now: datetime, state: _Run | None = None) -> list[Source]:
    """Nothing but on the 1st; then one source per tier that has a pack."""
    if day.day != 1:
        return []
    job = state or _Run(now)
    job.now = now  # a resumed day runs with the `now` its checkpoint recorded
    month = day.strftime("%Y-%m")
    return [
        Source(
            f"tier:{tier.code}",
            partial(members_of_tier, tier.code),
            partial(grant_page, job, month, tier.code, tier.benefits.monthly_coupons),
        )
        for tier in tiers.rules().tiers
        if tier.benefits.monthly_coupons
    ]


def members_of_tier(tier_code: str, cursor: Cursor, limit: int) -> tuple[list[str], Cursor]:
    """A page of the tier's member ids; the cursor is the last id (plain JSON, checkpointed)."""
    after = cursor["after"] if cursor else None
    ids, more = campaigns_repo.audience_page("tier", tier_code, after, limit)
    return ids, ({"after": ids[-1]} if more and ids else None)


def grant_page(
    job: _Run, month: str, tier_code: str, packs: tuple[MonthlyCoupons, ...], member_ids: list[str]
) -> list[DomainEvent]:
    for member in campaigns_repo.load_members(member_ids):
        if member.merged_into or member.closed or member.tier_code != tier_code:
            job.counts["members_skipped"] += 1
            continue
        for pack in packs:
            grant_pack(job, member, month, pack)
        job.counts["members"] += 1
    return []


def grant_pack(job: _Run, member: Member, month: str, pack: MonthlyCoupons) -> None:
    where = {"member_id": member.member_id, "template_id": pack.template_id}
    for n in range(1, pack.count + 1):
        if pack.template_id in job.spent:
            job.counts["coupons_skipped"] += 1
            continue
        grant_key = keys.key("pack", member.member_id, month, pack.template_id, str(n))
        try:
            coupons.grant(pack.template_id, member.member_id, grant_key, job.now, source=SOURCE)
        except CouponNotFound:
            job.counts["coupon_unknown"] += 1
            job.spent.add(pack.template_id)
            logger.warning("tier pack: no such template", extra=where)
        except CouponRefused as refused:
            job.counts["coupon_refused"] += 1
            logger.warning("tier pack coupon refused", extra={**where, "reason": refused.code})
            if refused.code not in TEMPLATE_REFUSALS:
                return  # this member's own limit: the next numbers would meet it too
            job.spent.add(pack.template_id)
        except MemberNotFound:  # closed since the page was read
            return
        else:
            job.counts["coupons"] += 1
