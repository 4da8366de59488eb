"""Scheduled every 5 minutes: queue the recipients of campaigns whose send time has come.

The audience is paged through keys-only member indexes, never scanned: one tier at a time
(`tier` index) or, for a birthday-month audience, one `MM-DD` at a time (sparse `birthday`
index), so a run costs the members of the chosen tiers or of that month. Each page of up to
100 members is loaded (BatchGetItem), filtered, one `campaign.message` event per recipient
(id `campaign:<cid>:<member>`) is queued, 10 per SendMessageBatch, and then the cursor and
the queued count advance in one conditional write. A crash re-queues at most one page, and
the sender's delivery record keeps that to one message and one count per member.

A member whose tier changes during the fan-out may be met again under the new tier. Each
event names the partition it was found in (`part`); the sender takes such a second copy off
the queued count, so `queued == sent + failed + skipped` holds exactly.
"""

from __future__ import annotations

import calendar
import time
from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain.campaigns import PENDING, Campaign, CampaignStatus
from chalicelib.domain.events import DomainEvent
from chalicelib.notify import events
from chalicelib.services.campaigns import matches
from chalicelib.services.tiers import all_tiers
from chalicelib.store import campaigns_repo

KIND = "campaign.message"
PAGE = 100  # BatchGetItem's limit: members are loaded, queued and checkpointed 100 at a time
KEYS_PAGE = 1000  # member ids per Query of a keys-only index
BUDGET_SECONDS = 600  # under a 15-minute Lambda; the next run (5 minutes later) resumes


def run(now: datetime) -> dict[str, int]:
    counts = {"campaigns": 0, "queued": 0, "batch_calls": 0}
    deadline = time.monotonic() + BUDGET_SECONDS
    for campaign in campaigns_repo.due(iso(now)):
        if not campaigns_repo.set_status(campaign.campaign_id, CampaignStatus.SENDING, PENDING):
            continue  # cancelled meanwhile
        queued, calls, done = _queue_audience(campaign, now, deadline)
        if done:
            campaigns_repo.set_status(campaign.campaign_id, CampaignStatus.QUEUED, (CampaignStatus.SENDING,))
        counts["campaigns"] += 1
        counts["queued"] += queued
        counts["batch_calls"] += calls
    return counts


def partitions(audience: dict[str, Any]) -> list[tuple[str, str]]:
    """(index, key) pairs that together hold every possible recipient, each member under one key."""
    month = audience.get("birthday_month")
    if month:
        days = calendar.monthrange(2000, int(month))[1]  # a leap year: Feb 29 birthdays count in February
        return [("birthday", f"{int(month):02d}-{day:02d}") for day in range(1, days + 1)]
    return [("tier", code) for code in audience.get("tiers") or [tier["code"] for tier in all_tiers()]]


def _queue_audience(campaign: Campaign, now: datetime, deadline: float) -> tuple[int, int, bool]:
    """Queue pages until the audience is done (True), or the time budget is spent, the campaign
    was cancelled or another run moved the cursor (False: the next run resumes from the cursor).
    Empty pages (a birthday with nobody born on it) advance the cursor without a write."""
    parts = partitions(campaign.audience)
    saved = campaign.cursor  # the checkpoint is guarded by the cursor as stored
    cursor: dict[str, Any] = saved or {"part": 0, "after": None}
    queued = calls = pages = 0
    while not cursor.get("done") and cursor["part"] < len(parts):
        part = cursor["part"]
        index, key = parts[part]
        ids, more = campaigns_repo.audience_page(index, key, cursor["after"], KEYS_PAGE)
        chunks = [ids[n : n + PAGE] for n in range(0, len(ids), PAGE)] or [[]]
        for n, chunk in enumerate(chunks):
            following = _after(part, chunk[-1] if chunk else None, n == len(chunks) - 1 and not (more and ids), parts)
            batch: list[DomainEvent] = []
            if chunk:
                if time.monotonic() > deadline or (pages and _cancelled(campaign.campaign_id)):
                    return queued, calls, False
                pages += 1
                batch = _messages(campaign, part, parts[part], chunk, now)
                calls += events.publish(batch)
            if chunk or following["done"]:
                if not campaigns_repo.checkpoint(campaign.campaign_id, saved, following, len(batch)):
                    return queued, calls, False  # another run advanced it
                queued, saved = queued + len(batch), following
            cursor = following
    return queued, calls, True


def _after(part: int, last_id: str | None, part_done: bool, parts: list[tuple[str, str]]) -> dict[str, Any]:
    if not part_done:
        return {"part": part, "after": last_id, "done": False}
    return {"part": part + 1, "after": None, "done": part + 1 >= len(parts)}


def _cancelled(campaign_id: str) -> bool:
    """Read between pages (one GetItem per 100 members), so a cancel stops the paging."""
    current = campaigns_repo.get(campaign_id)
    return current is None or current.status == CampaignStatus.CANCELLED


def _messages(
    campaign: Campaign, part: int, partition: tuple[str, str], member_ids: list[str], now: datetime
) -> list[DomainEvent]:
    if not member_ids:
        return []
    index, key = partition
    members = campaigns_repo.load_members(member_ids)
    # The tier index may lag a tier change: a member counts only under the tier it is in now.
    recipients = [m for m in members if matches(m, campaign.audience) and (index != "tier" or m.tier_code == key)]
    return [
        DomainEvent(
            event_id=f"campaign:{campaign.campaign_id}:{member.member_id}",
            kind=KIND,
            member_id=member.member_id,
            occurred_at=iso(now),
            data={
                "campaign_id": campaign.campaign_id,
                "template": campaign.template,
                "name": campaign.name,
                "channel": campaign.audience.get("channel") or "any",
                "part": part,
            },
        )
        for member in sorted(recipients, key=lambda m: m.member_id)
    ]
