"""Request and response models of the referrals routes (邀请有礼, issue 14)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.schemas import Strict

MAX_PAGE = 50


class ReferralsQuery(Strict):
    cursor: str | None = Field(default=None, max_length=1024, description="next_cursor of the previous page")
    limit: int = Field(default=20, ge=1, le=MAX_PAGE)


class ReferralRulesOut(Strict):
    enabled: bool
    referrer_points: int = Field(description="what I get for each friend")
    invitee_points: int = Field(description="what my friend gets")
    reward_on: Literal["registration", "first_order_settled"]
    return_window_days: int = Field(description="first_order_settled: days the first order must be kept")
    per_referrer_month: int = Field(description="rewarded friends per calendar month at most")
    text: str = Field(description="the rules in Chinese, for the invite page")


class ReferralMonthOut(Strict):
    month: str = Field(description="YYYY-MM (Asia/Shanghai)")
    rewarded: int = Field(description="friends rewarded this month")
    cap: int


class ReferralInviteeOut(Strict):
    nickname: str | None = Field(description="masked: 张**")
    phone: str | None = Field(description="masked: 138******34; null until my friend binds a phone")
    bound_at: str
    status: Literal["bound", "due", "settled", "rewarded", "refused"]
    status_text: str
    reason: Literal["self", "already_invited", "cap_reached", "member_gone"] | None
    reason_text: str | None
    points: int = Field(description="what I got for this friend (0 until rewarded)")
    rewarded_at: str | None


class ReferralsOut(Strict):
    code: str = Field(description="my invite code (邀请码 = 会员码)")
    share_path: str = Field(description="the mini-program page to share: pages/index/index?ref=<code>")
    qr_scene: str = Field(description="the official account's parametric QR scene: ref_<code>")
    rules: ReferralRulesOut
    month: ReferralMonthOut
    items: list[ReferralInviteeOut] = Field(description="my invitees, newest first")
    next_cursor: str | None
