"""How coupons and templates are shown: the response models built from the domain's values,
with the rules in the member's language. Shared by the member, admin and staff routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from chalicelib.api.routing import lazy_module
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.api import schemas_coupons as s
    from chalicelib.domain.coupons import Coupon
    from chalicelib.services.coupon_templates import TemplateView
else:
    s = lazy_module("chalicelib.api.schemas_coupons")


def coupon_out(coupon: Coupon, now: datetime) -> s.CouponOut:
    """A coupon as its member (and the console) sees it; also the staff side's building block."""
    from chalicelib.domain import coupon_text
    from chalicelib.domain.coupons import CouponStatus

    benefit, status = coupon.terms.benefit, coupon.status_at(now)
    return s.CouponOut(
        code=coupon.code,
        coupon_id=coupon.coupon_id,
        member_id=coupon.member_id,
        template_id=coupon.template_id,
        name=coupon.terms.name,
        headline=coupon_text.headline(benefit),
        status=cast("s.ShownStatus", (CouponStatus.UNUSED if status == CouponStatus.RETURNED else status).value),
        returned=coupon.returned_at is not None,
        benefit=s.CouponBenefitOut(
            kind=benefit.kind.value,
            threshold_fen=benefit.threshold_fen,
            amount_off_fen=benefit.amount_off_fen,
            rate_percent=benefit.rate_percent,
            cap_fen=benefit.cap_fen,
            gift_sku=benefit.gift_sku,
            gift_name=benefit.gift_name,
        ),
        channel=coupon.terms.channel.value,
        rules=coupon_text.coupon_rules(coupon.terms, coupon.valid_from, coupon.valid_until, get_settings().timezone),
        valid_from=coupon.valid_from.astimezone(UTC),
        valid_until=coupon.valid_until.astimezone(UTC),
        claimed_at=coupon.claimed_at,
        used_at=coupon.used_at,
        used_store=coupon.used_store,
    )


def template_out(view: TemplateView) -> s.CouponTemplateOut:
    from chalicelib.domain import coupon_rules, coupon_text

    template, definition = view.template, view.template.definition
    return s.CouponTemplateOut(
        template_id=template.template_id,
        version=template.version,
        status=template.status.value,
        shards=template.shards,
        definition=s.CouponDefinition.model_validate(coupon_rules.to_dict(definition), strict=False),
        stock=s.CouponStockOut(stock=view.stock.stock, claimed=view.stock.claimed, remaining=view.stock.remaining),
        headline=coupon_text.headline(definition.terms.benefit),
        rules=coupon_text.template_rules(definition, tier_names(), get_settings().timezone),
        created_at=template.created_at,
        created_by=template.created_by,
        updated_at=template.updated_at,
        updated_by=template.updated_by,
    )


def tier_names() -> dict[str, str]:
    from chalicelib.services import programme

    return {tier.code: tier.name for tier in programme.current().tiers}
