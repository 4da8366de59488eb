"""Campaigns (营销推送, e.g. member day on the 15th): define, read, cancel; who is in the audience.

An operator defines the audience (tiers, tags, birthday month, channel), a `campaign.*`
template and a send time. The campaigns job (`jobs/campaigns.py`) queues one message per
recipient at send time; the sender counts each message once as sent, failed or skipped, so
a campaign is done when `sent + failed + skipped == queued`. A campaign may carry a coupon
template: the sender grants each recipient it messages one coupon before the message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain.campaigns import ACTIVE, Campaign, CampaignStatus
from chalicelib.domain.errors import CampaignNotFound, IdempotencyConflict, InvalidInput
from chalicelib.domain.ledger import fingerprint
from chalicelib.domain.members import Member
from chalicelib.notify import templates
from chalicelib.services.tiers import all_tiers
from chalicelib.store import audit_repo, campaigns_repo, coupon_templates_repo


def create(operator: str, request: dict[str, Any], key: str, now: datetime) -> Campaign:
    """Idempotent per (operator, Idempotency-Key): a retry returns the same campaign, the same
    key with another body is a conflict."""
    if templates.template(request["template"]) is None or not request["template"].startswith("campaign."):
        raise InvalidInput("unknown campaign template", field="template")
    tiers = {tier["code"] for tier in all_tiers()}
    for code in request["audience"].get("tiers") or []:
        if code not in tiers:
            raise InvalidInput(f"unknown tier {code}", field="audience.tiers")
    coupon_template_id = request.get("coupon_template_id")
    if coupon_template_id is not None and coupon_templates_repo.find(coupon_template_id) is None:
        raise InvalidInput(
            f"no coupon template {coupon_template_id}", field="coupon_template_id", code="coupon_template_unknown"
        )
    campaign = Campaign(
        campaign_id=keys.campaign_id(operator, key),
        name=request["name"],
        template=request["template"],
        audience=request["audience"],
        send_at=request["send_at"],
        status=CampaignStatus.SCHEDULED,
        created_by=operator,
        created_at=iso(now),
        fingerprint=fingerprint(request),
        coupon_template_id=coupon_template_id,
    )
    audit_repo.describe(
        target=f"campaign:{campaign.campaign_id}",
        after={"name": campaign.name, "template": campaign.template, "audience": campaign.audience,
               "send_at": campaign.send_at, "coupon_template_id": campaign.coupon_template_id},
    )  # fmt: skip
    try:
        campaigns_repo.create(campaign)
    except campaigns_repo.CampaignExists:
        existing = get(campaign.campaign_id)
        if existing.fingerprint != campaign.fingerprint:
            raise IdempotencyConflict(
                "idempotency key was used for a different request", field="Idempotency-Key"
            ) from None
        return existing
    return campaign


def get(campaign_id: str) -> Campaign:
    found = campaigns_repo.get(campaign_id)
    if found is None:
        raise CampaignNotFound(campaign_id, field="campaign_id")
    return found


def status(campaign: Campaign) -> CampaignStatus:
    """The stored status, or `done` once every queued message has an outcome."""
    return campaign.progress


def cancel(campaign_id: str) -> Campaign:
    """Stops queueing, and messages still in the queue are skipped by the sender (counted as
    skipped); what was delivered stays delivered. A done or cancelled campaign is unchanged."""
    campaign = get(campaign_id)
    if status(campaign) in ACTIVE:
        audit_repo.describe(before={"status": status(campaign)}, after={"status": CampaignStatus.CANCELLED})
        campaigns_repo.set_status(campaign_id, CampaignStatus.CANCELLED, ACTIVE)
    return get(campaign_id)


def matches(member: Member, audience: dict[str, Any]) -> bool:
    """Whether a member is a recipient. Merged members are never: their survivor is."""
    if member.merged_into:
        return False
    tiers = audience.get("tiers")
    if tiers and member.tier_code not in tiers:
        return False
    wanted_tags = set(audience.get("tags") or [])
    if wanted_tags and not wanted_tags & set(member.tags):
        return False
    month = audience.get("birthday_month")
    if month and (member.birthday is None or member.birthday.month != month):
        return False
    channel = audience.get("channel") or "any"
    if channel == "mp":
        return bool(member.mp_followed and member.mp_openid)
    # "mini": consents are checked at send time; a member who has none is counted as skipped.
    return not (channel == "mini" and not member.mini_openid)
