"""Request/response models of subscriptions (订阅消息) and campaigns."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.schemas import Strict

SubscribeResult = Literal["accept", "reject", "ban", "filter"]


class SubscriptionsIn(Strict):
    """What `wx.requestSubscribeMessage` reported: template id → the member's choice."""

    results: dict[str, SubscribeResult] = Field(min_length=1, max_length=20)


class SubscriptionsOut(Strict):
    consents: dict[str, int] = Field(description="template id → sends still allowed")
