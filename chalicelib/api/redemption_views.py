"""How redemptions (核销) are answered: the response models built from the domain's values, and
the 409 of a coupon used before, whose fields say who used it, when and where."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from chalice.app import Response

from chalicelib.api.errors import error_response
from chalicelib.api.routing import lazy_module
from chalicelib.clock import local_date
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from datetime import datetime

    from chalicelib.api import schemas_channels as c
    from chalicelib.api import schemas_coupons as s
    from chalicelib.domain.coupon_use import CouponAlreadyUsed
    from chalicelib.domain.coupons import Coupon
    from chalicelib.services.coupon_redemption import Redemption, Returned
else:
    c = lazy_module("chalicelib.api.schemas_channels")
    s = lazy_module("chalicelib.api.schemas_coupons")


def already_used(error: CouponAlreadyUsed) -> Response:
    """409 `coupon_already_used`: the field presented, then used_by, used_at and used_store."""
    fields = [
        {"field": error.field or "code", "reason": error.detail},
        {"field": "used_by", "reason": error.used_by},
        {"field": "used_at", "reason": error.used_at},
        {"field": "used_store", "reason": error.used_store},
    ]
    return error_response(409, error.code, fields)


def redemption_out(redemption: Redemption) -> c.CouponRedemptionOut:
    coupon = redemption.coupon
    return c.CouponRedemptionOut(
        code=coupon.code,
        coupon_id=coupon.coupon_id,
        name=coupon.terms.name,
        headline=_headline(coupon),
        benefit=_benefit(coupon),
        rules=_rules(coupon),
        used_at=coupon.used_at or "",
        used_by=coupon.used_by or "",
        used_store=coupon.used_store,
        replayed=redemption.replayed,
    )


def pos_redemption_out(redemption: Redemption) -> c.PosCouponRedemptionOut:
    coupon = redemption.coupon
    return c.PosCouponRedemptionOut(
        code=coupon.code,
        coupon_id=coupon.coupon_id,
        name=coupon.terms.name,
        headline=_headline(coupon),
        benefit=_benefit(coupon),
        rules=_rules(coupon),
        used_at=coupon.used_at or "",
        used_by=coupon.used_by or "",
        used_store=coupon.used_store,
        replayed=redemption.replayed,
        member_id=coupon.member_id,
        order_id=coupon.order_id or "",
    )


def return_out(result: Returned, order_id: str, now: datetime) -> c.PosCouponReturnOut:
    from chalicelib.domain.coupons import CouponStatus

    coupon = result.coupon
    state = coupon.status_at(now)
    shown = CouponStatus.UNUSED if state == CouponStatus.RETURNED else state
    return c.PosCouponReturnOut(
        code=coupon.code,
        coupon_id=coupon.coupon_id,
        order_id=order_id,
        returned=result.returned,
        reason=cast("c.ReturnReason | None", result.reason),
        status=cast("s.ShownStatus", shown.value),
    )


def staff_coupon_out(coupon: Coupon) -> c.StaffCouponOut:
    from chalicelib.domain import coupon_text

    timezone = get_settings().timezone
    return c.StaffCouponOut(
        coupon_id=coupon.coupon_id,
        name=coupon.terms.name,
        expires_on=local_date(coupon.valid_until, timezone),
        headline=coupon_text.headline(coupon.terms.benefit),
        rules=coupon_text.coupon_rules(coupon.terms, coupon.valid_from, coupon.valid_until, timezone),
        valid_until=coupon.valid_until,
    )


def _headline(coupon: Coupon) -> str:
    from chalicelib.domain import coupon_text

    return coupon_text.headline(coupon.terms.benefit)


def _rules(coupon: Coupon) -> list[str]:
    from chalicelib.domain import coupon_text

    return coupon_text.coupon_rules(coupon.terms, coupon.valid_from, coupon.valid_until, get_settings().timezone)


def _benefit(coupon: Coupon) -> s.CouponBenefitOut:
    benefit = coupon.terms.benefit
    return s.CouponBenefitOut(
        kind=benefit.kind.value,
        threshold_fen=benefit.threshold_fen,
        amount_off_fen=benefit.amount_off_fen,
        rate_percent=benefit.rate_percent,
        cap_fen=benefit.cap_fen,
        gift_sku=benefit.gift_sku,
        gift_name=benefit.gift_name,
    )
