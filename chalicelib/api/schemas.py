"""Request and response models of the HTTP API; `/openapi.json` is generated from them.

Strict: integers are integers (no "10", no 10.0), unknown fields are rejected.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

KEY_PATTERN = r"^[A-Za-z0-9_\-:.]+$"
MAX_POINTS = 100_000_000
MAX_FEN = 100_000_000_00


class Strict(BaseModel):
    # defer_build: validators are built on first use, not at import (Lambda cold start).
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class LoginIn(Strict):
    code: str = Field(min_length=1, max_length=128)
    invite_code: str | None = Field(
        default=None, max_length=128, description="邀请码 from the share path's `ref`; an unknown one is ignored"
    )


class LoginOut(Strict):
    token: str
    member_id: str
    expires_in: int


class TierOut(Strict):
    code: str
    name: str


class ExpiryOut(Strict):
    date: date
    points: int


class ReleaseOut(Strict):
    date: date  # the day the points become spendable
    points: int


class PointsSummaryOut(Strict):
    balance: int
    next_expiry: ExpiryOut | None
    pending: int = Field(default=0, description="order points in their return window (冻结期), not spendable yet")
    next_release: ReleaseOut | None = None


class GrowthGoalOut(Strict):
    growth: int = Field(description="成长值 the goal asks for in the window")
    growth_needed: int = Field(description="still missing (0: reached)")
    yuan_needed: int | None = Field(description="whole yuan to spend for it; null when spending earns no growth")


class NextTierOut(Strict):
    code: str
    name: str
    goal: GrowthGoalOut


class TierBenefitsOut(Strict):
    points_multiplier: int = Field(description="in %: 200 is ×2")
    discount_rate: int = Field(description="in %: 95 is 95折")
    birthday_points: int
    perks: list[str]


class TierStatusOut(Strict):
    """会员等级 and 保级 as the member sees them."""

    window: Literal["lifetime", "calendar_year", "rolling_12_months"]
    growth: int = Field(description="成长值 in the programme's window today")
    lifetime_growth: int
    next_tier: NextTierOut | None = Field(description="null on the top tier")
    keep: GrowthGoalOut | None = Field(description="what the review counts to keep this tier; null: no review")
    review_on: date | None = Field(description="the day this tier is reviewed (保级)")
    benefits: TierBenefitsOut


class MeOut(Strict):
    member_id: str
    nickname: str | None
    gender: Literal["unknown", "male", "female"]
    birthday: date | None
    phone: str | None = Field(description="masked, e.g. 138****1234")
    tier: TierOut
    points: PointsSummaryOut
    tier_status: TierStatusOut | None = None


class MemberCodeOut(Strict):
    """动态会员码: what the card shows as a QR and a barcode (services/member_code.py)."""

    payload: str = Field(description="34 characters of upper-case base-32: signed, short-lived")
    expires_at: datetime
    refresh_in: int = Field(description="seconds: fetch a fresh payload after this long")


class ProfilePatch(Strict):
    nickname: str | None = Field(default=None, min_length=1, max_length=32)
    birthday: date | None = Field(default=None, description="YYYY-MM-DD, may be set once")
    gender: Literal["unknown", "male", "female"] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ProfilePatch:
        if self.nickname is None and self.birthday is None and self.gender is None:
            raise ValueError("give at least one of nickname, birthday, gender")
        return self


class PhoneIn(Strict):
    code: str = Field(min_length=1, max_length=128)


class PhoneOut(Strict):
    phone: str


class LedgerQuery(Strict):
    # A cursor names the page's last entry, whose id can reach 392 characters (escaped `:`s).
    cursor: str | None = Field(default=None, max_length=1024)
    limit: int = Field(default=20, ge=1, le=100)


class LedgerEntryOut(Strict):
    id: str
    kind: Literal[
        "earn",
        "redeem",
        "reverse",
        "adjust",
        "expire",
        "merge",
        "grant",
        "import",
        "checkin",
        "checkin_makeup",
        "action",
        "release",
        "referral",
        "gift_out",
        "gift_in",
        "mall_refund",
        "checkout",
        "checkout_cancel",
        "checkout_refund",
    ]
    points: int
    pending: int = Field(default=0, description="an order's points held in its return window (冻结期), released later")
    balance_after: int
    reason: str | None
    created_at: str
    explanation: str | None = Field(default=None, description="how an order's points were earned: 基础 12 + 银卡×2 12")


class LedgerPageOut(Strict):
    items: list[LedgerEntryOut]
    next_cursor: str | None


class RedemptionIn(Strict):
    points: int = Field(gt=0, le=MAX_POINTS)
    reason: str = Field(min_length=1, max_length=64)


class RedemptionOut(Strict):
    redemption_id: str
    points: int
    balance: int


class MemberRef(Strict):
    """Exactly one way to name the member."""

    member_id: str | None = Field(default=None, max_length=64)
    openid: str | None = Field(default=None, max_length=64)
    unionid: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=20)
    code: str | None = Field(
        default=None,
        max_length=64,
        description="the card's dynamic code (GET /v1/me/code), scanned: expired or edited is 400 naming member.code",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> MemberRef:
        given = [name for name in ("member_id", "openid", "unionid", "phone", "code") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of member_id, openid, unionid, phone, code")
        return self


MAX_ORDER_LINES = 100  # a request body is at most 16 KiB (MAX_BODY_BYTES): ~100 lines


class OrderLineIn(Strict):
    line_id: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    sku: str = Field(min_length=1, max_length=64)
    category: str | None = Field(default=None, min_length=1, max_length=64)
    quantity: int = Field(default=1, ge=1, le=10_000)
    amount_fen: int = Field(ge=0, le=MAX_FEN, description="what the line was paid, after discounts")


class OrderIn(Strict):
    order_id: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    member: MemberRef
    amount_fen: int = Field(ge=0, le=MAX_FEN)
    paid_at: AwareDatetime
    store_id: str | None = Field(default=None, max_length=64)
    lines: list[OrderLineIn] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ORDER_LINES,
        description="optional: unique line ids, amounts adding up to amount_fen (else 400 naming lines)",
    )

    @field_validator("lines")
    @classmethod
    def _lines_add_up(cls, lines: list[OrderLineIn] | None, info: ValidationInfo) -> list[OrderLineIn] | None:
        return _check_lines(lines, info)


class OrderOut(Strict):
    order_id: str
    member_id: str
    points_earned: int
    balance: int
    points_pending: int = Field(default=0, description="of points_earned, held in the return window (冻结期)")
    release_on: date | None = Field(default=None, description="when the held points become spendable")


class RefundLineIn(Strict):
    line_id: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    amount_fen: int = Field(gt=0, le=MAX_FEN)


def _check_lines(lines: list[Any] | None, info: ValidationInfo) -> list[Any] | None:
    """Unique line ids; amounts adding up to the body's amount_fen when it is given (and valid)."""
    if lines is None:
        return None
    if len({line.line_id for line in lines}) != len(lines):
        raise ValueError("line ids must be unique")
    amount = info.data.get("amount_fen")
    if amount is not None and sum(line.amount_fen for line in lines) != amount:
        raise ValueError("the line amounts must add up to amount_fen")
    return lines


class RefundIn(Strict):
    """A partial refund names itself (`refund_id`, signed with the body): a captured request
    can then only ever repeat the refund it was made for."""

    refund_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=KEY_PATTERN, description="required with amount_fen"
    )
    amount_fen: int | None = Field(default=None, gt=0, le=MAX_FEN, description="omit for a full refund")
    lines: list[RefundLineIn] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ORDER_LINES,
        description="a refund of these lines of an order reported with lines; with refund_id; "
        "unique line ids, adding up to amount_fen when both are given (else 400 naming lines)",
    )

    @field_validator("lines")
    @classmethod
    def _lines_add_up(cls, lines: list[RefundLineIn] | None, info: ValidationInfo) -> list[RefundLineIn] | None:
        return _check_lines(lines, info)

    # The service refuses amount_fen without refund_id (400 naming refund_id); the schema says so.
    model_config = ConfigDict(json_schema_extra={"dependentRequired": {"amount_fen": ["refund_id"]}})


class RefundOut(Strict):
    order_id: str
    refund_id: str
    refund_fen: int
    points_reversed: int = Field(description="points the refunded spend had earned, taken back")
    balance: int
    cash_fen: int | None = Field(
        default=None, description="a checked-out order: the cash part the POS pays back itself"
    )
    wechat_pay_fen: int = Field(
        default=0, description="a checked-out order paid through WeChat Pay: refunded to the member by WeChat Pay"
    )
    wallet_fen: int = Field(default=0, description="a checked-out order: back into the member's wallet")
    points_returned: int = Field(default=0, description="a checked-out order: deducted points given back")
    coupons_returned: list[str] = Field(default_factory=list, description="coupon ids given back (return policy)")


class AdjustmentIn(Strict):
    points: int = Field(ge=-MAX_POINTS, le=MAX_POINTS)
    reason: str = Field(min_length=1, max_length=128)

    @model_validator(mode="after")
    def _not_zero(self) -> AdjustmentIn:
        if self.points == 0:
            raise ValueError("points must not be zero")
        return self


class AdjustmentOut(Strict):
    status: Literal["applied", "pending"]
    member_id: str
    points: int
    entry_id: str | None = None
    approval_id: str | None = None
    balance: int | None = None


class MergeIn(Strict):
    """Merge `merged_id` into `survivor_id` (会员合并)."""

    survivor_id: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    merged_id: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    reason: str = Field(min_length=1, max_length=128)


class MergeMovedOut(Strict):
    points: int
    debt: int
    growth: int
    lots: int
    aliases: int


class MergeOut(Strict):
    merge_id: str
    survivor_id: str
    merged_id: str
    status: Literal["started", "done"]
    trigger: str
    operator: str | None
    reason: str | None
    started_at: str
    finished_at: str | None
    moved: MergeMovedOut
    approved_by: str | None = None


class MergeRequestOut(Strict):
    """A merge waiting for (or run after) a second operator's approval; `preview` is what it moves."""

    approval_id: str
    status: Literal["pending", "approved", "done"]
    survivor_id: str
    merged_id: str
    requested_by: str
    approved_by: str | None
    reason: str
    preview: MergeMovedOut
    merge: MergeOut | None


class ApprovalOut(Strict):
    approval_id: str
    kind: Literal["adjust", "merge", "grant"]
    status: Literal["applied", "pending", "approved", "done"]
    adjustment: AdjustmentOut | None = None
    merge: MergeRequestOut | None = None
    grant_id: str | None = Field(
        default=None, description="a bulk grant, running once approved: GET /admin/grants/{id}"
    )


class FieldErrorOut(Strict):
    field: str
    reason: str


class ErrorBodyOut(Strict):
    code: str
    message: str
    fields: list[FieldErrorOut] = []


class ErrorOut(Strict):
    error: ErrorBodyOut
