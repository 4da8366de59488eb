"""Request and response models of the HTTP API; `/openapi.json` is generated from them.

Strict: integers are integers (no "10", no 10.0), unknown fields are rejected.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

KEY_PATTERN = r"^[A-Za-z0-9_\-:.]+$"
MAX_POINTS = 100_000_000
MAX_FEN = 100_000_000_00


class Strict(BaseModel):
    # defer_build: validators are built on first use, not at import (Lambda cold start).
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


class LoginIn(Strict):
    code: str = Field(min_length=1, max_length=128)


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


class PointsSummaryOut(Strict):
    balance: int
    next_expiry: ExpiryOut | None


class MeOut(Strict):
    member_id: str
    nickname: str | None
    gender: Literal["unknown", "male", "female"]
    birthday: date | None
    phone: str | None = Field(description="masked, e.g. 138****1234")
    tier: TierOut
    points: PointsSummaryOut


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
    kind: Literal["earn", "redeem", "reverse", "adjust", "expire", "merge"]
    points: int
    balance_after: int
    reason: str | None
    created_at: str


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

    @model_validator(mode="after")
    def _exactly_one(self) -> MemberRef:
        given = [name for name in ("member_id", "openid", "unionid", "phone") if getattr(self, name)]
        if len(given) != 1:
            raise ValueError("give exactly one of member_id, openid, unionid, phone")
        return self


class OrderIn(Strict):
    order_id: str = Field(min_length=1, max_length=64, pattern=KEY_PATTERN)
    member: MemberRef
    amount_fen: int = Field(ge=0, le=MAX_FEN)
    paid_at: AwareDatetime
    store_id: str | None = Field(default=None, max_length=64)


class OrderOut(Strict):
    order_id: str
    member_id: str
    points_earned: int
    balance: int


class RefundIn(Strict):
    """A partial refund names itself (`refund_id`, signed with the body): a captured request
    can then only ever repeat the refund it was made for."""

    refund_id: str | None = Field(
        default=None, min_length=1, max_length=64, pattern=KEY_PATTERN, description="required with amount_fen"
    )
    amount_fen: int | None = Field(default=None, gt=0, le=MAX_FEN, description="omit for a full refund")

    # The service refuses amount_fen without refund_id (400 naming refund_id); the schema says so.
    model_config = ConfigDict(json_schema_extra={"dependentRequired": {"amount_fen": ["refund_id"]}})


class RefundOut(Strict):
    order_id: str
    refund_id: str
    refund_fen: int
    points_reversed: int
    balance: int


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
    kind: Literal["adjust", "merge"]
    status: Literal["applied", "pending", "approved", "done"]
    adjustment: AdjustmentOut | None = None
    merge: MergeRequestOut | None = None


class FieldErrorOut(Strict):
    field: str
    reason: str


class ErrorBodyOut(Strict):
    code: str
    message: str
    fields: list[FieldErrorOut] = []


class ErrorOut(Strict):
    error: ErrorBodyOut
