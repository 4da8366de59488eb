"""Request and response models of checkout (收银结算, POS and mall servers): integer fen and points."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from chalicelib.api.schemas import KEY_PATTERN, MAX_FEN, MAX_ORDER_LINES, MAX_POINTS, MemberRef, Strict, _check_lines
from chalicelib.api.schemas_wallet import PaymentOut


class CheckoutLineIn(Strict):
    line_id: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    sku: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    category: str | None = Field(default=None, min_length=1, max_length=64, pattern=KEY_PATTERN)
    amount_fen: int = Field(ge=0, le=MAX_FEN, description="the line's price, before any member discount")


class CheckoutIn(Strict):
    order_id: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    member: MemberRef
    store_id: str | None = Field(default=None, max_length=64, pattern=KEY_PATTERN)
    channel: Literal["in_store", "mini_program"] = Field(default="in_store", description="which coupons apply")
    amount_fen: int = Field(ge=1, le=MAX_FEN)
    lines: list[CheckoutLineIn] = Field(
        min_length=1, max_length=MAX_ORDER_LINES, description="unique line ids, adding up to amount_fen"
    )
    coupon_codes: list[str] | None = Field(
        default=None,
        max_length=3,
        description="omitted: the member's best coupon for this order; []: none; else these (their groups must combine)",
    )
    points: int = Field(default=0, ge=0, le=MAX_POINTS, description="积分抵扣: the quote says the most allowed")
    wallet_fen: int = Field(default=0, ge=0, le=MAX_FEN, description="储值: the quote says what is usable")
    pay_with: Literal["counter", "wechat_pay"] = Field(
        default="counter", description="wechat_pay: the member pays the rest in the mini-program; held till then"
    )

    @field_validator("lines")
    @classmethod
    def _lines_add_up(cls, lines: list[CheckoutLineIn], info: ValidationInfo) -> list[Any] | None:
        return _check_lines(lines, info)

    @field_validator("coupon_codes")
    @classmethod
    def _short_codes(cls, codes: list[str] | None) -> list[str] | None:
        if codes is not None and any(not 1 <= len(code) <= 32 for code in codes):
            raise ValueError("a coupon code is 1..32 characters")
        return codes


class CheckoutConfirmIn(CheckoutIn):
    expected_cash_fen: int | None = Field(
        default=None, ge=0, le=MAX_FEN, description="the quote's cash_fen: 409 checkout_quote_changed if it moved"
    )


class CheckoutPartsOut(Strict):
    """What an amount is made of: each part in fen (points also in points), adding up to it."""

    amount_fen: int
    tier_discount_fen: int
    coupon_fen: int
    points: int
    points_fen: int
    wallet_fen: int
    cash_fen: int = Field(description="what is left to pay: at the counter, or through WeChat Pay")


class CheckoutLineOut(CheckoutPartsOut):
    line_id: str
    refunded_fen: int = 0


class CheckoutCouponOut(Strict):
    coupon_id: str
    code: str
    name: str
    discount_fen: int
    lines: list[str]


class CheckoutTotalsOut(CheckoutPartsOut):
    pass


class QuoteOut(Strict):
    order_id: str
    member_id: str
    totals: CheckoutTotalsOut
    lines: list[CheckoutLineOut]
    coupons: list[CheckoutCouponOut]
    points_balance: int
    points_max: int = Field(description="the largest deduction allowed for this order now")
    points_step: int = Field(description="a deduction is a multiple of this many points")
    wallet_balance_fen: int
    wallet_usable_fen: int


class CheckoutOut(Strict):
    order_id: str
    member_id: str
    status: Literal["held", "completed", "paid", "cancelled"]
    totals: CheckoutTotalsOut
    lines: list[CheckoutLineOut]
    coupons: list[CheckoutCouponOut]
    wallet_principal_fen: int
    wallet_bonus_fen: int
    created_at: str
    expires_at: str | None = Field(description="a held checkout is cancelled then unless paid")
    payment: PaymentOut | None = Field(description="while held: the mini-program calls wx.requestPayment with it")


class CheckoutCancelIn(Strict):
    reason: str | None = Field(default=None, max_length=200)


__all__ = ["CheckoutCancelIn", "CheckoutConfirmIn", "CheckoutIn", "CheckoutOut", "QuoteOut", "MAX_POINTS"]
