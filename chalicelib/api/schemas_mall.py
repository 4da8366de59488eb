"""Request and response models of the points mall routes (积分商城): rewards in the admin area
and the mall, redemptions, fulfilments.

A reward's definition is the domain's model (domain/mall.py), validated as it is stored: each
rule between fields names the later field (400). The rules that need the world (tiers of the
programme, a coupon template that exists) are services/mall_admin.py `_check`, 400 naming
the field; a per-kind rule (a partner code's stock is its pool) is in the item's model.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from chalicelib.api.schemas import Strict
from chalicelib.api.schemas_wallet import PaymentOut
from chalicelib.domain.mall import ID, MAX_QUANTITY, RewardDefinition

Item = Annotated[str, Field(pattern=ID, max_length=64)]
Kind = Literal["coupon", "physical", "partner_code"]
Status = Literal["issued", "awaiting_payment", "pending", "shipped", "delivered", "cancelled"]
FulfilmentStatus = Literal["pending", "shipped", "delivered", "cancelled"]
PartnerCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9_\-]{4,64}$")]


class MallRewardIn(RewardDefinition, Strict):
    """A reward as an operator defines it (domain/mall.py RewardDefinition)."""


class MallRewardEditIn(RewardDefinition, Strict):
    version: int = Field(ge=1, le=10**9, description="the version this edit was made from: 409 if it moved")


class MallRewardStockOut(Strict):
    stock: int = Field(description="redeemed + remaining (a partner-code reward: codes uploaded)")
    redeemed: int = Field(description="units redeemed and not cancelled")
    remaining: int


class MallRewardOut(Strict):
    reward_id: str
    version: int
    status: Literal["active", "paused"]
    definition: RewardDefinition
    stock: MallRewardStockOut
    rules: list[str] = Field(description="the rules as members read them")
    created_at: str
    created_by: str
    updated_at: str
    updated_by: str


class MallRewardListQuery(Strict):
    limit: int = Field(default=50, ge=1, le=200)


class MallRewardListOut(Strict):
    items: list[MallRewardOut] = Field(description="newest first")


class MallCodesIn(Strict):
    codes: list[PartnerCode] = Field(min_length=1, max_length=500)


class MallCodesOut(Strict):
    added: int
    duplicates: list[str] = Field(description="codes the pool already had (or sent twice): not added again")
    remaining: int = Field(description="unclaimed codes in the pool")


class MallOfferOut(Strict):
    """A reward as a member browsing the mall sees it."""

    reward_id: str
    name: str
    description: str | None
    kind: Kind
    points: int = Field(description="per unit")
    cash_fen: int = Field(description="per unit, paid through WeChat Pay after the redemption (physical gifts only)")
    price: str = Field(description="e.g. 500积分, 500积分+¥9.9")
    rules: list[str]
    max_quantity: int
    remaining: int
    sold_out: bool = Field(description="已兑完")
    redeemed: int = Field(description="how many this member has redeemed (not cancelled)")
    redeemable: bool
    refusal: str | None = Field(description="the error code a redemption now would meet")
    refusal_message: str | None
    redeem_until: datetime | None


class MallOfferListOut(Strict):
    items: list[MallOfferOut]


class MallAddressIn(Strict):
    name: str = Field(min_length=1, max_length=20, description="收件人")
    phone: str = Field(pattern=r"^1[3-9][0-9]{9}$", description="a mainland mobile number")
    region: str = Field(min_length=2, max_length=64, description="省 市 区")
    detail: str = Field(min_length=2, max_length=120, description="详细地址")


class MallRedemptionIn(Strict):
    reward_id: Item
    quantity: int = Field(default=1, ge=1, le=MAX_QUANTITY, description="units; above 1 for physical gifts only")
    address: MallAddressIn | None = Field(default=None, description="a physical gift's, required; no other reward's")


class MallAddressOut(Strict):
    name: str
    phone: str = Field(description="masked (138****1234); in full only on the console's fulfilment to who ships")
    region: str
    detail: str


class MallLotOut(Strict):
    expires_on: date
    points: int


class MallIssuedCouponOut(Strict):
    coupon_id: str
    code: str = Field(description="in 我的优惠券 (GET /v1/me/coupons/{code})")


class MallShipmentOut(Strict):
    carrier: str
    tracking_no: str
    shipped_at: str


class MallCancellationOut(Strict):
    cancelled_at: str
    cancelled_by: str = Field(
        description="member, payment_expired (a cash part unpaid by its deadline), or (to operators) the operator; "
        "members read `operator`"
    )
    reason: str | None
    into_today: int = Field(description="points given back whose lot had passed its date: they expire today")


class MallRedemptionOut(Strict):
    redemption_id: str
    member_id: str
    reward_id: str
    reward_name: str
    kind: Kind
    quantity: int
    points: int = Field(description="in all")
    status: Status = Field(description="awaiting_payment: a points + cash gift whose cash part is not paid yet")
    created_at: str
    cash_fen: int = Field(description="the cash part in all (per unit × quantity); 0: points only")
    expires_at: str | None = Field(description="a cash part's deadline: unpaid by then, the redemption is cancelled")
    payment: PaymentOut | None = Field(
        description="wx.requestPayment's parameters while awaiting payment (to the member only)"
    )
    lots: list[MallLotOut] = Field(description="the lots the points were taken from, earliest expiry first")
    coupon: MallIssuedCouponOut | None
    partner_code: str | None
    address: MallAddressOut | None
    shipment: MallShipmentOut | None
    delivered_at: str | None
    cancellation: MallCancellationOut | None


class MallRedemptionListQuery(Strict):
    limit: int = Field(default=20, ge=1, le=100)


class MallRedemptionListOut(Strict):
    items: list[MallRedemptionOut] = Field(description="newest first")


class MallMemberCancelIn(Strict):
    reason: str | None = Field(default=None, min_length=1, max_length=200)


class MallFulfilmentListQuery(Strict):
    status: FulfilmentStatus = "pending"
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=2048)


class MallFulfilmentListOut(Strict):
    items: list[MallRedemptionOut] = Field(description="oldest first; phones masked")
    next_cursor: str | None


class MallShipIn(Strict):
    carrier: str = Field(min_length=1, max_length=32, description="e.g. 顺丰速运")
    tracking_no: str = Field(pattern=r"^[A-Za-z0-9\-]{4,40}$")


class MallCancelIn(Strict):
    reason: str = Field(min_length=1, max_length=200)
