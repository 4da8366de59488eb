"""Request/response models of the staff sidebar and member merges."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from chalicelib.api.schemas import Strict


class StaffLoginIn(Strict):
    code: str = Field(min_length=1, max_length=128, description="WeChat Work OAuth code (企业微信网页授权)")


class StaffLoginOut(Strict):
    token: str
    userid: str = Field(description="the staff member's WeChat Work userid")
    expires_in: int


class StaffExpiryOut(Strict):
    points: int
    expires_on: date


class StaffCouponOut(Strict):
    """Coupons arrive with the coupons issue; until then the list is always empty."""

    coupon_id: str
    name: str
    expires_on: date | None


class StaffCustomerOut(Strict):
    member_id: str
    tier_code: str
    tier_name: str
    balance: int
    next_expiry: StaffExpiryOut | None
    phone_masked: str | None = Field(description="e.g. 138****1234; the full number is never shown")
    coupons: list[StaffCouponOut]
