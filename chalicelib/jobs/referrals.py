"""Referral rewards (邀请有礼) that wait for the invitee's first order to pass its return window.

Due referrals come from the sparse, sharded `due` index of the referrals table (a referral is
in it from its first order until it is paid, settled, reopened or refused), by the day the
order settles, so the job costs what is due, never the table. Each referral is decided on its
own (services/referrals.py `settle_due`): paid in one transaction with both ledger entries,
or put back to waiting when the order was fully refunded. Every move is conditioned on the
status read, and the reward's entries are keyed by the invitee: a re-run of a day, or a run
racing a phone binding that pays the same referral, pays nothing twice. The events go to the
outbox with the reward, so a page has none left to publish.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import partial

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.programme import Programme
from chalicelib.jobs.daily import Source, run_days
from chalicelib.services import programme, referrals
from chalicelib.store import referrals_repo

NAME = "referral-rewards"


def run(now: datetime) -> dict[str, int]:
    return run_days(NAME, now, sources)


def sources(day: date, now: datetime) -> list[Source]:
    rules = programme.current()  # the programme in force when the day is processed
    if not rules.referral.enabled:
        return []  # the due referrals stay in the index: a later day's run pays them
    return [
        Source(f"referral-due:{shard}", partial(referrals_repo.due, shard, day), partial(settle_page, now, day, rules))
        for shard in range(referrals_repo.DUE_SHARDS)
    ]


def settle_page(now: datetime, day: date, rules: Programme, invitee_ids: list[str]) -> list[DomainEvent]:
    for invitee_id in invitee_ids:
        referrals.settle_due(invitee_id, day, now, rules)
    return []
