"""Deliveries (消息投递): one per event and audience, at most one message each."""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    """A delivery's state; the values are stored (deliveries table, campaign counters)."""

    NEW = "new"  # no delivery yet: what a first claim takes over
    SENDING = "sending"  # claimed, outcome not yet recorded
    SENT = "sent"
    SKIPPED = "skipped"  # no channel reaches the member, or the campaign was cancelled
    FAILED = "failed"  # refused for good, or the attempt's outcome is unknown
    DUPLICATE = "duplicate"  # marker: a campaign message queued again from another partition
    APPLIED = "applied"  # marker: a subscribe-consent request already counted


# Every queued campaign message ends with exactly one of these; each is a campaign counter.
OUTCOMES = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)
