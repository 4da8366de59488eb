"""Request and response models of the action route (行为积分, reported by the brand's server)."""

from __future__ import annotations

from pydantic import AwareDatetime, Field

from chalicelib.api.schemas import KEY_PATTERN, MemberRef, Strict


class ActionIn(Strict):
    action_id: str = Field(
        min_length=1, max_length=64, pattern=KEY_PATTERN, description="the caller's id: a retry answers the same"
    )
    member: MemberRef
    action: str = Field(
        min_length=1,
        max_length=32,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="registration, complete_profile, first_purchase, product_review, share: one the programme rewards",
    )
    at: AwareDatetime = Field(description="when the member did it; bounded like an order's paid_at")


class ActionOut(Strict):
    action_id: str
    member_id: str
    points: int
    balance: int
