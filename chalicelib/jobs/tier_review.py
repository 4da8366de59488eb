"""Tier review (保级): each day, the members whose warning or review is due, and only those.

Due members come from the sparse, sharded `tier-due` index (members on a tier with a review
date; the next day the job must look at them is the key), so the job costs what is due,
never the table. Per member, one transaction guarded by the member's version writes the
decision (`domain/tier_review.py`) and its events to the outbox: `tier.changed` (down) plus
the WeChat Work tag task, keyed `tier-review:<member>:<review date>`, or the 保级 warning
`tier-warning:<member>:<review date>`. The decision moves the member's due day past today,
so a re-run of the day finds nothing to do, and an order committed meanwhile makes the
review read the member again and decide on what the order left.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from functools import partial
from typing import TYPE_CHECKING

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain.errors import Busy, MemberNotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.members import Member
from chalicelib.domain.tier_review import Review, ReviewAction, keep_growth, review
from chalicelib.domain.tiers import yuan_for_growth
from chalicelib.jobs.daily import Source, run_days
from chalicelib.observability import logger
from chalicelib.retry import backoff
from chalicelib.services import tiers
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, tiers_repo

if TYPE_CHECKING:
    from chalicelib.domain.programme import Programme

NAME = "tier-review"


def run(now: datetime) -> dict[str, int]:
    return run_days(NAME, now, sources)


def sources(day: date, now: datetime) -> list[Source]:
    programme = tiers.rules()  # the programme in force when the day is processed
    return [
        Source(
            f"tier-due:{shard}",
            partial(tiers_repo.members_due, shard, day),
            partial(review_page, now, day, programme),
        )
        for shard in range(tiers_repo.TIER_DUE_SHARDS)
    ]


def review_page(now: datetime, day: date, programme: Programme, member_ids: list[str]) -> list[DomainEvent]:
    """One BatchGetItem for the page, then each member's decision in its own transaction (its
    events go to the outbox with it: none are left for the page to publish)."""
    for member in members_repo.get_members(member_ids):
        review_member(member, day, now, programme)
    return []


def review_member(member: Member, day: date, now: datetime, programme: Programme) -> ReviewAction:
    attempts = get_settings().tx_max_attempts
    for attempt in range(attempts):
        if member.merged_into or member.closed:
            tiers_repo.leave_index(member.member_id, member.version)
            return ReviewAction.NOTHING
        decision = review(
            programme.tiers, programme.tier_policy, member.tier_code, member.tier_state, member.growth, day
        )
        if decision.action == ReviewAction.NOTHING:
            return decision.action
        try:
            tiers_repo.commit_review(
                member, decision.tier_code, decision.state, _events(member, decision, now, programme)
            )
            return decision.action
        except tiers_repo.ReviewStale:
            backoff(attempt)
            try:
                member = members_repo.get_member(member.member_id)
            except MemberNotFound:
                return ReviewAction.NOTHING
    logger.warning("tier review busy", extra={"member_id": member.member_id})
    raise Busy(f"member {member.member_id} busy after {attempts} attempts")


def _events(member: Member, decision: Review, now: datetime, programme: Programme) -> list[DomainEvent]:
    reviewed_on = member.tier_state.review_on or member.tier_state.due_on or now.date()
    if decision.action == ReviewAction.DOWN:
        cause = keys.key("tier-review", member.member_id, reviewed_on.isoformat())
        after = replace(member, tier_code=decision.tier_code, tier_state=decision.state)
        return tiers.tier_events(cause, after, decision.tier_code, member.tier_code, iso(now))
    if decision.action == ReviewAction.WARN:
        return [_warning(member, decision, reviewed_on, now, programme)]
    return []


def _warning(member: Member, decision: Review, review_on: date, now: datetime, programme: Programme) -> DomainEvent:
    """保级提醒: what is still missing, as growth and as the spend that makes it up."""
    per_yuan = programme.tier_policy.growth_per_yuan
    data = {
        "tier_code": member.tier_code,
        "tier_name": tiers.tier_name(member.tier_code),
        "review_on": review_on.isoformat(),
        "growth": decision.growth,
        "growth_to_keep": keep_growth(programme.tiers, member.tier_code) or 0,
        "growth_needed": decision.growth_needed,
        "yuan_needed": yuan_for_growth(decision.growth_needed, per_yuan),
        "keep_text": tiers.keep_text(decision.growth_needed, per_yuan),
    }
    event_id = keys.key("tier-warning", member.member_id, review_on.isoformat())
    return DomainEvent(event_id, "tier.review_warning", member.member_id, iso(now), data)
