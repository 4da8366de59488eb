"""Request/response models of the staff sidebar and member merges."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from chalicelib.api.schemas import Strict
from chalicelib.api.schemas_coupons import ITEM, CouponBenefitOut, ShownStatus


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
    """A coupon the customer may use in store now (at the store asked about), soonest-ending
    first. No code: the member shows the QR (or tells the code) at the counter."""

    coupon_id: str
    name: str
    expires_on: date | None = Field(description="its last valid day (Asia/Shanghai)")
    headline: str = Field(description="e.g. 满200减30")
    rules: list[str] = Field(description="使用规则, as the member reads them")
    valid_until: datetime = Field(description="its last second")


class StaffCustomerOut(Strict):
    member_id: str
    tier_code: str
    tier_name: str
    balance: int
    next_expiry: StaffExpiryOut | None
    phone_masked: str | None = Field(description="e.g. 138****1234; the full number is never shown")
    coupons: list[StaffCouponOut]


class StaffCustomerQuery(Strict):
    store_id: str | None = Field(
        default=None, pattern=ITEM, max_length=64, description="the staff's store: also list coupons only for it"
    )


# Redemption (核销) at the counter: the staff sidebar and a POS outside checkout.
CODE_PATTERN = r"^[0-9A-Za-z \-]{1,32}$"  # as a person types it (domain/coupon_codes.normalise)
PAYLOAD_PATTERN = r"^c1\.[0-9A-Za-z]{1,32}\.[0-9]{1,12}\.[A-Za-z0-9_\-]{1,32}$"
_ONE_OF_CODE_OR_PAYLOAD: dict[str, Any] = {
    "oneOf": [
        {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}} for name in ("code", "payload")
    ]
}


class _Presented(Strict):
    """Exactly one of the coupon's code (typed) or its QR payload (scanned: signed, fresh)."""

    code: str | None = Field(default=None, max_length=32, pattern=CODE_PATTERN, description="券码, as typed")
    payload: str | None = Field(
        default=None, max_length=128, pattern=PAYLOAD_PATTERN, description="the QR's payload, valid 90 s"
    )
    store_id: str = Field(pattern=ITEM, max_length=64, description="where it is used")

    model_config = ConfigDict(json_schema_extra=_ONE_OF_CODE_OR_PAYLOAD)

    @model_validator(mode="after")
    def _exactly_one(self) -> _Presented:
        if (self.code is None) == (self.payload is None):
            raise ValueError("give exactly one of code, payload")
        return self

    @property
    def presented(self) -> str:
        return self.code if self.code is not None else str(self.payload)


class StaffRedemptionIn(_Presented):
    pass


class PosCouponRedemptionIn(_Presented):
    order_id: str = Field(
        pattern=ITEM, max_length=64, description="the order it is used on: a retry of the same order answers it again"
    )


class CouponRedemptionOut(Strict):
    code: str
    coupon_id: str
    name: str
    headline: str = Field(description="e.g. 满200减30: what to take off at the till")
    benefit: CouponBenefitOut
    rules: list[str]
    used_at: str
    used_by: str = Field(description="the staff userid, or pos:<client id>")
    used_store: str | None
    replayed: bool = Field(description="a retry of this redemption (same Idempotency-Key or order), answered again")


class PosCouponRedemptionOut(CouponRedemptionOut):
    member_id: str
    order_id: str


ReturnReason = Literal["policy_never", "expired"]


class PosCouponReturnIn(Strict):
    order_id: str = Field(pattern=ITEM, max_length=64, description="the order the coupon was used on")


class PosCouponReturnOut(Strict):
    code: str
    coupon_id: str
    order_id: str
    returned: bool = Field(description="given back (now, or by an earlier call for this order)")
    reason: ReturnReason | None = Field(description="why the return policy keeps it used")
    status: ShownStatus = Field(description="as the member sees it now: a returned coupon past its end is expired")
