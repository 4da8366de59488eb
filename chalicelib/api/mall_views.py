"""How the points mall is shown: response models built from the domain's values, with the
rules in the member's language. Shared by the member and admin routes."""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING

from chalicelib.api.routing import lazy_module
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.api import schemas_mall as s
    from chalicelib.api import schemas_wallet as w
    from chalicelib.domain.mall import Reward, RewardDefinition
    from chalicelib.domain.mall_redemptions import Redemption
    from chalicelib.services.mall import Offer
else:
    s = lazy_module("chalicelib.api.schemas_mall")
    w = lazy_module("chalicelib.api.schemas_wallet")

_PERIODS = {"day": "每天", "week": "每周", "month": "每月"}


def price(definition: RewardDefinition) -> str:
    from chalicelib.domain.coupon_text import yuan

    cash = f"+¥{yuan(definition.cash_fen)}" if definition.cash_fen else ""
    return f"{definition.points}积分{cash}"


def rules(definition: RewardDefinition, min_redeem_points: int) -> list[str]:
    """A reward's rules as a member deciding to redeem reads them."""
    from chalicelib.domain.coupon_text import when
    from chalicelib.services import programme

    zone = get_settings().timezone
    item = definition.item
    lines = [f"兑换价格：{price(definition)}" + ("/件" if definition.max_quantity > 1 else "")]
    if item.kind == "coupon":
        lines.append("兑换后优惠券发放至「我的优惠券」")
    elif item.kind == "physical":
        lines.append("实物礼品，兑换后由商家发货；发货前可取消，积分退回原批次")
    else:
        lines += [f"{item.partner}兑换码，兑换后在兑换记录中查看", *([item.instructions] if item.instructions else [])]
    if definition.max_quantity > 1:
        lines.append(f"每次最多兑换{definition.max_quantity}件")
    if definition.per_member_limit is not None:
        lines.append(f"每人限兑{definition.per_member_limit}件")
    if definition.per_period_limit is not None:
        lines.append(f"每人{_PERIODS[definition.period]}限兑{definition.per_period_limit}件")
    if definition.tiers:
        names = {tier.code: tier.name for tier in programme.current().tiers}
        lines.append(f"仅限{'、'.join(names.get(c, c).removesuffix('会员') for c in definition.tiers)}会员兑换")
    if min_redeem_points:
        lines.append(f"积分余额满{min_redeem_points}方可兑换")
    start = definition.redeem_from or definition.visible_from
    until = definition.redeem_until or definition.visible_until
    if start is not None:
        lines.append(f"兑换开始：{when(start, zone)}")
    if until is not None:
        lines.append(f"兑换截止：{when(until, zone)}")
    return [*lines, *([definition.description] if definition.description else [])]


def reward_out(reward: Reward) -> s.MallRewardOut:
    stock = s.MallRewardStockOut(
        stock=reward.redeemed + reward.remaining, redeemed=reward.redeemed, remaining=reward.remaining
    )
    return s.MallRewardOut(
        reward_id=reward.reward_id,
        version=reward.version,
        status=reward.status.value,
        definition=reward.definition,
        stock=stock,
        rules=rules(reward.definition, _minimum()),
        created_at=reward.created_at,
        created_by=reward.created_by,
        updated_at=reward.updated_at,
        updated_by=reward.updated_by,
    )


def offer_out(offer: Offer, min_redeem_points: int) -> s.MallOfferOut:
    from chalicelib.texts import text

    definition, reward = offer.reward.definition, offer.reward
    until = definition.redeem_until or definition.visible_until
    return s.MallOfferOut(
        reward_id=reward.reward_id,
        name=definition.name,
        description=definition.description,
        kind=definition.kind.value,
        points=definition.points,
        cash_fen=definition.cash_fen,
        price=price(definition),
        rules=rules(definition, min_redeem_points),
        max_quantity=definition.max_quantity,
        remaining=reward.remaining,
        sold_out=reward.remaining == 0,
        redeemed=offer.count.total,
        redeemable=offer.refusal is None,
        refusal=offer.refusal,
        refusal_message=text(offer.refusal) if offer.refusal else None,
        redeem_until=until.astimezone(UTC) if until else None,
    )


def redemption_out(redemption: Redemption, *, for_member: bool) -> s.MallRedemptionOut:
    """A member reads `operator` for whoever of the brand cancelled; the console, who."""
    address, shipment, cancelled = redemption.address, redemption.shipment, redemption.cancellation
    coupon = None
    if redemption.coupon_id and redemption.coupon_code:
        coupon = s.MallIssuedCouponOut(coupon_id=redemption.coupon_id, code=redemption.coupon_code)
    return s.MallRedemptionOut(
        redemption_id=redemption.redemption_id,
        member_id=redemption.member_id,
        reward_id=redemption.reward_id,
        reward_name=redemption.reward_name,
        kind=redemption.kind.value,
        quantity=redemption.quantity,
        points=redemption.points,
        status=redemption.status.value,
        created_at=redemption.created_at,
        cash_fen=redemption.cash_fen,
        expires_at=redemption.pay.expires_at if redemption.pay else None,
        payment=_payment(redemption) if for_member else None,
        lots=[s.MallLotOut(expires_on=lot.expires_on, points=lot.points) for lot in redemption.lots],
        coupon=coupon,
        partner_code=redemption.partner_code,
        address=s.MallAddressOut(
            name=address.name, phone=address.phone or address.phone_masked, region=address.region, detail=address.detail
        )
        if address
        else None,
        shipment=s.MallShipmentOut(
            carrier=shipment.carrier, tracking_no=shipment.tracking_no, shipped_at=shipment.shipped_at
        )
        if shipment
        else None,
        delivered_at=redemption.delivered_at,
        cancellation=s.MallCancellationOut(
            cancelled_at=cancelled.cancelled_at,
            cancelled_by=_cancelled_by(cancelled.cancelled_by) if for_member else cancelled.cancelled_by,
            reason=cancelled.reason,
            into_today=cancelled.into_today,
        )
        if cancelled
        else None,
    )


def _cancelled_by(by: str) -> str:
    """A member reads `member`, `payment_expired` (unpaid by its deadline) or `operator`."""
    return by if by in ("member", "payment_expired") else "operator"


def _payment(redemption: Redemption) -> w.PaymentOut | None:
    from chalicelib.services import mall_pay

    found = mall_pay.payment_params(redemption)
    return w.PaymentOut(**found) if found else None  # type: ignore[arg-type]


def _minimum() -> int:
    from chalicelib.services import programme

    return programme.current().points.min_redeem_points
