"""Request and response models of the coupons routes (优惠券): templates in the admin area,
claims, the member's coupons and their QR payloads.

Each field's own bounds are here; the rules between fields (a 满减 takes off at most its
threshold, windows end after they start, a daily limit within the total, tiers of the
programme, a fixed window not over yet) are domain/coupon_rules.py `check`, 400 naming the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from chalicelib.api.schemas import MAX_FEN, Strict

ITEM = r"^[A-Za-z0-9_\-:.]{1,64}$"
Item = Annotated[str, Field(pattern=ITEM, max_length=64)]
TierCode = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
ShownStatus = Literal["unused", "used", "expired"]
Fen = Annotated[int, Field(ge=1, le=MAX_FEN)]
Threshold = Annotated[int, Field(ge=0, le=MAX_FEN, description="fen the eligible lines must reach; 0: none")]


class CouponAmountOffIn(Strict):
    """满减: e.g. 满200减30 is threshold_fen 20000, amount_off_fen 3000 (at most the threshold)."""

    kind: Literal["amount_off"]
    threshold_fen: Fen
    amount_off_fen: Fen


class CouponPercentageIn(Strict):
    """折扣券: rate_percent is what the member pays (90 = 9折); the discount is rounded down
    to the fen, then capped."""

    kind: Literal["percentage"]
    rate_percent: int = Field(ge=1, le=99)
    cap_fen: Fen | None = None
    threshold_fen: Threshold = 0


class CouponVoucherIn(Strict):
    """代金券: takes off its face value, never more than the eligible amount (no change given)."""

    kind: Literal["voucher"]
    amount_off_fen: Fen
    threshold_fen: Threshold = 0


class CouponNoThresholdIn(Strict):
    """无门槛券."""

    kind: Literal["no_threshold"]
    amount_off_fen: Fen


class CouponGiftIn(Strict):
    """兑换券: one unit of gift_sku."""

    kind: Literal["gift"]
    gift_sku: Item
    gift_name: str | None = Field(default=None, min_length=1, max_length=32)
    threshold_fen: Threshold = 0


CouponBenefitIn = Annotated[
    CouponAmountOffIn | CouponPercentageIn | CouponVoucherIn | CouponNoThresholdIn | CouponGiftIn,
    Field(discriminator="kind"),
]


class CouponScopeIn(Strict):
    """Empty lists mean any: lines count by SKU or category; stores restrict in-store use."""

    skus: list[Item] = Field(default=[], max_length=500)
    categories: list[Item] = Field(default=[], max_length=100)
    stores: list[Item] = Field(default=[], max_length=200)


class CouponStackingIn(Strict):
    group: str = Field(default="default", pattern=r"^[a-z0-9_]{1,32}$", description="券组: one coupon per group")
    exclusive: bool = Field(default=True, description="true: combines with no other coupon")
    with_points: bool = Field(default=True, description="may be used with a points deduction (积分抵扣)")


class CouponFixedValidityIn(Strict):
    kind: Literal["fixed"]
    valid_from: AwareDatetime
    valid_until: AwareDatetime = Field(description="the last second it is usable (e.g. …T23:59:59+08:00)")


class CouponRelativeValidityIn(Strict):
    kind: Literal["days_after_claim"]
    days: int = Field(ge=1, le=3650, description="the claim day is day 1; the last ends 23:59:59 Asia/Shanghai")


CouponValidityIn = Annotated[CouponFixedValidityIn | CouponRelativeValidityIn, Field(discriminator="kind")]


class CouponDefinition(Strict):
    name: str = Field(min_length=1, max_length=32)
    description: str | None = Field(default=None, min_length=1, max_length=200, description="shown to members")
    benefit: CouponBenefitIn
    scope: CouponScopeIn = CouponScopeIn()
    channel: Literal["mini_program", "in_store", "both"] = "both"
    stacking: CouponStackingIn = CouponStackingIn()
    validity: CouponValidityIn
    claim_from: AwareDatetime | None = None
    claim_until: AwareDatetime | None = Field(default=None, description="its last second; within a fixed validity")
    stock: int = Field(ge=1, le=10_000_000, description="in all, claimed and not; never below what was claimed")
    per_member_limit: int | None = Field(default=None, ge=1, le=1000)
    per_member_daily_limit: int | None = Field(default=None, ge=1, le=1000, description="per Asia/Shanghai day")
    tiers: list[TierCode] = Field(default=[], max_length=12, description="tier codes of the programme; []: all")


class CouponTemplateIn(CouponDefinition):
    stock_shards: int | None = Field(
        default=None, ge=1, le=32, description="stock items claims spread over; default 1 per 500 of stock, ≤ 32"
    )


class CouponTemplateEditIn(CouponDefinition):
    version: int = Field(ge=1, le=10**9, description="the version this edit was made from: 409 if it moved")


class CouponStockOut(Strict):
    stock: int
    claimed: int
    remaining: int


class CouponTemplateOut(Strict):
    template_id: str
    version: int
    status: Literal["active", "paused"]
    shards: int
    definition: CouponDefinition
    stock: CouponStockOut
    headline: str = Field(description="e.g. 满200减30")
    rules: list[str] = Field(description="the rules as members read them")
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str


class CouponTemplateSummaryOut(Strict):
    template_id: str
    version: int
    status: Literal["active", "paused"]
    name: str
    headline: str
    stock: int
    created_at: str


class CouponTemplateListQuery(Strict):
    limit: int = Field(default=50, ge=1, le=200)


class CouponTemplateListOut(Strict):
    items: list[CouponTemplateSummaryOut] = Field(description="newest first")


class CouponGrantIn(Strict):
    member_id: str = Field(pattern=ITEM, max_length=64)


class CouponBenefitOut(Strict):
    kind: Literal["amount_off", "percentage", "voucher", "no_threshold", "gift"]
    threshold_fen: int
    amount_off_fen: int
    rate_percent: int = Field(description="percentage kind: what is paid, 90 = 9折; else 0")
    cap_fen: int | None
    gift_sku: str | None
    gift_name: str | None


class CouponOut(Strict):
    code: str = Field(description="the coupon's code (券码); at the counter show the QR instead")
    coupon_id: str
    member_id: str
    template_id: str
    name: str
    headline: str = Field(description="e.g. 满200减30, 9折 最高减50元")
    status: ShownStatus = Field(description="past its end it is expired, job or not; a returned one is unused")
    returned: bool = Field(description="given back after a refund, usable again")
    benefit: CouponBenefitOut
    channel: Literal["mini_program", "in_store", "both"]
    rules: list[str] = Field(description="使用规则, in the member's language")
    valid_from: datetime
    valid_until: datetime = Field(description="its last second")
    claimed_at: str
    used_at: str | None
    used_store: str | None


class CouponListQuery(Strict):
    status: Literal["unused", "used", "expired"] = "unused"
    limit: int = Field(default=50, ge=1, le=100)


class CouponListOut(Strict):
    items: list[CouponOut]


class CouponQrOut(Strict):
    payload: str = Field(description="what the QR encodes: signed, short-lived")
    expires_at: datetime
    refresh_after_seconds: int = Field(description="fetch a fresh payload after this long")


class CouponOfferOut(Strict):
    """A template as a member deciding to claim sees it."""

    template_id: str
    name: str
    headline: str
    rules: list[str]
    sold_out: bool = Field(description="已抢光")
    claimed: int = Field(description="how many this member has claimed")
    claimable: bool
    refusal: str | None = Field(description="the error code a claim now would meet (coupon_sold_out, …)")
