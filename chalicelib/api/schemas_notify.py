"""Request/response models of subscriptions (订阅消息) and campaigns."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, Field, field_validator

from chalicelib.api.schemas import Strict
from chalicelib.clock import utc_now

SubscribeResult = Literal["accept", "reject", "ban", "filter"]
# A campaign is scheduled up to a year ahead; a send_at already past goes out at the next run,
# but one years ago is a typo, not a schedule. Both bounds keep send_at far from datetime's limits.
SEND_AT_MAX_AHEAD = timedelta(days=366)
SEND_AT_MAX_BEHIND = timedelta(days=731)


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
    send_at: AwareDatetime = Field(description="at most 366 days ahead; a past one is sent at the next run")
    coupon_template_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="a coupon template: each recipient messaged is granted one coupon, once, before the message",
    )

    @field_validator("send_at")
    @classmethod
    def _within_the_scheduling_window(cls, send_at: datetime) -> datetime:
        now = utc_now()
        if not now - SEND_AT_MAX_BEHIND <= send_at <= now + SEND_AT_MAX_AHEAD:
            raise ValueError(
                f"send_at must lie between {SEND_AT_MAX_BEHIND.days} days ago and {SEND_AT_MAX_AHEAD.days} days ahead"
            )
        return send_at


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
    coupon_template_id: str | None = None
    coupons_granted: int = Field(description="recipients granted the campaign's coupon")
    coupons_refused: int = Field(description="recipients the template refused (sold out, paused, a member limit)")
