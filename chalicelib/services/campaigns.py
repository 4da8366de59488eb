"""Campaigns (营销推送, e.g. member day on the 15th): define, page the audience, count deliveries.

At send time the job pages through the audience one tier at a time (keys-only `tier` index),
loads each page of members (BatchGetItem), filters it, queues one `campaign.message` event per
recipient (id `campaign:<cid>:<member>`), then advances the cursor and the queued count in one
conditional write. A crash re-queues at most one page; the sender's per-event delivery record
keeps that to one message each.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain.errors import CampaignNotFound, IdempotencyConflict, InvalidInput
from chalicelib.domain.ledger import fingerprint
from chalicelib.domain.members import Member
from chalicelib.notify import events, templates
from chalicelib.services.tiers import all_tiers
from chalicelib.store import campaigns_repo
from chalicelib.store.models import CampaignModel

PAGE = 100  # BatchGetItem's limit


def create(operator: str, request: dict[str, Any], key: str, now: datetime) -> CampaignModel:
    if templates.template(request["template"]) is None or not request["template"].startswith("campaign."):
        raise InvalidInput("unknown campaign template", field="template")
    tiers = {tier["code"] for tier in all_tiers()}
    for code in request["audience"].get("tiers") or []:
        if code not in tiers:
            raise InvalidInput(f"unknown tier {code}", field="audience.tiers")
    campaign_id = "cmp_" + hashlib.sha256(f"{operator}\n{key}".encode()).hexdigest()[:16]
    item = CampaignModel(
        campaign_id,
        name=request["name"],
        template=request["template"],
        audience=request["audience"],
        send_at=request["send_at"],
        status="scheduled",
        created_by=operator,
        created_at=iso(now),
        fingerprint=fingerprint(request),
    )
    try:
        campaigns_repo.create(item)
        return item
    except campaigns_repo.CampaignExists:
        existing = get(campaign_id)
        if existing.fingerprint != item.fingerprint:
            raise IdempotencyConflict(
                "idempotency key was used for a different request", field="Idempotency-Key"
            ) from None
        return existing


def get(campaign_id: str) -> CampaignModel:
    found = campaigns_repo.get(campaign_id)
    if found is None:
        raise CampaignNotFound(campaign_id, field="campaign_id")
    return found


def cancel(campaign_id: str) -> CampaignModel:
    get(campaign_id)
    campaigns_repo.set_status(campaign_id, "cancelled", ("scheduled", "sending"))
    return get(campaign_id)


def matches(member: Member, audience: dict[str, Any]) -> bool:
    if member.merged_into:
        return False
    wanted_tags = set(audience.get("tags") or [])
    if wanted_tags and not wanted_tags & set(member.tags):
        return False
    month = audience.get("birthday_month")
    if month and (member.birthday is None or member.birthday.month != month):
        return False
    channel = audience.get("channel") or "any"
    return not (channel == "mp" and not member.mp_followed)


def send_due(now: datetime) -> dict[str, int]:
    """The campaigns job body: queue every due campaign's recipients."""
    counts = {"campaigns": 0, "queued": 0, "batch_calls": 0}
    for campaign in campaigns_repo.due(iso(now)):
        campaigns_repo.set_status(campaign.campaign_id, "sending", ("scheduled", "sending"))
        queued, calls = _queue_audience(campaign, now)
        campaigns_repo.set_status(campaign.campaign_id, "queued", ("sending",))
        counts["campaigns"] += 1
        counts["queued"] += queued
        counts["batch_calls"] += calls
    return counts


def _queue_audience(campaign: CampaignModel, now: datetime) -> tuple[int, int]:
    tiers = campaign.audience.get("tiers") or [tier["code"] for tier in all_tiers()]
    cursor: dict[str, Any] | None = campaign.cursor
    queued = calls = 0
    while True:
        position = cursor or {"tier": 0, "start": None}
        if position.get("done") or position["tier"] >= len(tiers):
            return queued, calls
        ids, next_start = campaigns_repo.tier_page(tiers[position["tier"]], position["start"], PAGE)
        members = [m for m in campaigns_repo.load_members(ids) if matches(m, campaign.audience)] if ids else []
        batch = [_message(campaign, member.member_id, now) for member in members]
        calls += events.publish(batch)
        following = (
            {"tier": position["tier"], "start": next_start}
            if next_start
            else {"tier": position["tier"] + 1, "start": None}
        )
        if following["tier"] >= len(tiers):
            following = {**following, "done": True}
        if not campaigns_repo.checkpoint(campaign.campaign_id, cursor, following, len(batch)):
            return queued, calls  # another run advanced it: let that run finish
        queued += len(batch)
        cursor = following


def _message(campaign: CampaignModel, member_id: str, now: datetime) -> events.DomainEvent:
    return events.DomainEvent(
        event_id=f"campaign:{campaign.campaign_id}:{member_id}",
        kind="campaign.message",
        member_id=member_id,
        occurred_at=iso(now),
        data={"campaign_id": campaign.campaign_id, "template": campaign.template, "name": campaign.name},
    )
