"""Request/response models of subscriptions (订阅消息) and campaigns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from chalicelib.api.schemas import Strict

SubscribeResult = Literal["accept", "reject", "ban", "filter"]


class SubscriptionsIn(Strict):
    """What `wx.requestSubscribeMessage` reported: template id → the member's choice."""

    results: dict[str, SubscribeResult] = Field(min_length=1, max_length=20)


class SubscriptionsOut(Strict):
    consents: dict[str, int] = Field(description="template id → sends still allowed")


class AudienceIn(Strict):
    """Every condition given must hold; none given means every member."""

    tiers: list[str] | None = Field(default=None, max_length=10, description="tier codes; omitted: all tiers")
    tags: list[str] | None = Field(default=None, max_length=20, description="members with any of these tags")
    birthday_month: int | None = Field(default=None, ge=1, le=12, description="members born in this month")
    channel: Literal["any", "mini", "mp"] = Field(
        default="any", description="mini: subscribe messages only; mp: official-account followers only"
    )


class CampaignIn(Strict):
    name: str = Field(min_length=1, max_length=64)
    template: str = Field(min_length=1, max_length=64, description="a campaign.* key of the templates file")
    audience: AudienceIn
    send_at: AwareDatetime


class CampaignOut(Strict):
    campaign_id: str
    name: str
    template: str
    audience: dict[str, Any]
    status: Literal["scheduled", "sending", "queued", "done", "cancelled"] = Field(
        description="queued: every recipient is queued; done: every queued message was sent, failed or skipped"
    )
    send_at: str
    created_by: str
    created_at: str
    queued: int = Field(description="messages queued, one per recipient")
    sent: int
    failed: int = Field(description="refused by WeChat for good (dead-lettered with the reason)")
    skipped: int = Field(description="no consent and not following, member gone, or the campaign was cancelled")
