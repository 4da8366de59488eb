"""Campaigns (营销推送, e.g. member day on the 15th): a template sent to an audience at a time."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from chalicelib.domain.deliveries import OUTCOMES

# What the campaign's coupon did per recipient: counted once each, beside the message outcomes.
COUPON_COUNTS = ("coupons_granted", "coupons_refused")


class CampaignStatus(StrEnum):
    """Stored as is, and shown to operators (`DONE` is derived, never stored)."""

    SCHEDULED = "scheduled"
    SENDING = "sending"  # the audience is being queued
    QUEUED = "queued"  # every recipient queued; done once each message has an outcome
    CANCELLED = "cancelled"
    DONE = "done"


PENDING = (CampaignStatus.SCHEDULED, CampaignStatus.SENDING)  # still to queue
ACTIVE = (*PENDING, CampaignStatus.QUEUED)  # states a cancel applies to


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    name: str
    template: str
    audience: dict[str, Any]
    send_at: str
    status: CampaignStatus  # as stored: never DONE
    created_by: str
    created_at: str
    fingerprint: str
    cursor: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)  # queued, sent, failed, skipped, coupons_*
    coupon_template_id: str | None = None  # one coupon granted to each recipient messaged

    @property
    def delivered(self) -> int:
        """Messages with an outcome: every queued message ends up sent, failed or skipped."""
        return sum(self.counts.get(name, 0) for name in OUTCOMES)

    @property
    def progress(self) -> CampaignStatus:
        """The stored status, or `done` once every queued message has an outcome."""
        if self.status == CampaignStatus.QUEUED and self.delivered >= self.counts.get("queued", 0):
            return CampaignStatus.DONE
        return self.status
