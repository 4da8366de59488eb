"""What a member reads of a coupon (券面与使用规则), in Simplified Chinese: the headline
(满200减30, 9折 最高减50元) and the rules, one line each. Amounts are shown in yuan without
trailing zeros (¥29.9), times in the brand's timezone to the second."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from chalicelib.domain.coupons import Benefit, Channel, Definition, Kind, Stacking, Terms

_CHANNELS = {
    Channel.MINI_PROGRAM: "仅限小程序商城使用",
    Channel.IN_STORE: "仅限门店使用",
    Channel.BOTH: "小程序商城和门店均可使用",
}


def yuan(fen: int) -> str:
    whole, cents = divmod(fen, 100)
    return f"{whole}" if cents == 0 else f"{whole}.{cents:02d}".rstrip("0")


def rate(rate_percent: int) -> str:
    """90 → 9折, 85 → 8.5折, 5 → 0.5折."""
    tens, units = divmod(rate_percent, 10)
    return f"{tens}折" if units == 0 else f"{tens}.{units}折"


def headline(benefit: Benefit) -> str:
    threshold = f"满{yuan(benefit.threshold_fen)}元" if benefit.threshold_fen else ""
    if benefit.kind == Kind.AMOUNT_OFF:
        return f"满{yuan(benefit.threshold_fen)}减{yuan(benefit.amount_off_fen)}"
    if benefit.kind == Kind.PERCENTAGE:
        cap = f" 最高减{yuan(benefit.cap_fen)}元" if benefit.cap_fen is not None else ""
        return f"{threshold}{'享' if threshold else ''}{rate(benefit.rate_percent)}{cap}"
    if benefit.kind == Kind.VOUCHER:
        return f"{yuan(benefit.amount_off_fen)}元代金券"
    if benefit.kind == Kind.NO_THRESHOLD:
        return f"无门槛减{yuan(benefit.amount_off_fen)}元"
    return f"兑换券：{benefit.gift_name or benefit.gift_sku}"


def benefit_rule(benefit: Benefit) -> str:
    threshold = f"订单满{yuan(benefit.threshold_fen)}元可用，" if benefit.threshold_fen else ""
    if benefit.kind == Kind.AMOUNT_OFF:
        return f"订单满{yuan(benefit.threshold_fen)}元减{yuan(benefit.amount_off_fen)}元"
    if benefit.kind == Kind.PERCENTAGE:
        cap = f"，最高减{yuan(benefit.cap_fen)}元" if benefit.cap_fen is not None else ""
        return f"{threshold}享{rate(benefit.rate_percent)}优惠{cap}（优惠金额按分向下取整）"
    if benefit.kind == Kind.GIFT:
        return f"{threshold}可兑换{benefit.gift_name or '指定商品'}（商品编号 {benefit.gift_sku}）1件"
    free = "无门槛，" if benefit.kind == Kind.NO_THRESHOLD else threshold
    return f"{free}抵扣{yuan(benefit.amount_off_fen)}元，超出订单金额部分不找零"


def scope_rules(terms: Terms) -> list[str]:
    scope = terms.scope
    if scope.skus and scope.categories:
        what = "限指定商品或品类使用"
    elif scope.skus:
        what = "限指定商品使用"
    elif scope.categories:
        what = "限指定品类使用"
    else:
        what = "全场商品通用"
    where = _CHANNELS[terms.channel]
    if scope.stores and terms.channel == Channel.IN_STORE:
        where = "仅限指定门店使用"
    elif scope.stores and terms.channel == Channel.BOTH:
        where = "小程序商城可用，门店使用限指定门店"
    return [what, where]


def stacking_rules(stacking: Stacking) -> list[str]:
    combine = "不可与其他优惠券同时使用" if stacking.exclusive else "可与其他券组的优惠券叠加使用，同组券每单限用一张"
    points = "可与积分抵扣同时使用" if stacking.with_points else "不可与积分抵扣同时使用"
    return [combine, points]


def when(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M:%S}"


def coupon_rules(terms: Terms, valid_from: datetime, valid_until: datetime, timezone: str) -> list[str]:
    """A held coupon's rules: what it gives, where, its window, how it combines."""
    window = f"有效期：{when(valid_from, timezone)} 至 {when(valid_until, timezone)}"
    notes = [terms.description] if terms.description else []
    return [benefit_rule(terms.benefit), *scope_rules(terms), window, *stacking_rules(terms.stacking), *notes]


def template_rules(definition: Definition, tier_names: dict[str, str], timezone: str) -> list[str]:
    """A template's rules as a member deciding to claim reads them: the coupon's, and who may
    claim how many, until when."""
    terms, validity = definition.terms, definition.validity
    if validity.days is not None:
        window = f"领取后{validity.days}天内有效（领取当天算第1天，至第{validity.days}天23:59:59）"
    else:
        assert validity.valid_from is not None and validity.valid_until is not None
        window = f"有效期：{when(validity.valid_from, timezone)} 至 {when(validity.valid_until, timezone)}"
    lines = [benefit_rule(terms.benefit), *scope_rules(terms), window, *stacking_rules(terms.stacking)]
    if definition.tiers:
        names = (tier_names.get(code, code).removesuffix("会员") for code in definition.tiers)
        lines.append(f"仅限{'、'.join(names)}会员领取")
    if definition.per_member_limit is not None:
        lines.append(f"每人限领{definition.per_member_limit}张")
    if definition.per_member_daily_limit is not None:
        lines.append(f"每人每天限领{definition.per_member_daily_limit}张")
    if definition.claim_until is not None:
        lines.append(f"领取截止：{when(definition.claim_until, timezone)}")
    return [*lines, *([terms.description] if terms.description else [])]
