"""What a points mall redemption gives, staged into the points transaction that takes its
points (`PointsChange.joins`): a coupon of the reward's template — the coupon, its code, one
unit of the template's stock and the member's counts under the template's limits, exactly as
a grant stages them (store/coupons_repo.py, store/coupon_templates_repo.py), here in the same
transaction as the points instead of one of its own — or a partner code claimed from the
pool; a physical gift adds nothing (its redemption record is the fulfilment).

Each part is planned on every attempt of the points engine from fresh reads, and refuses
with the member's error when those reads already say no (sold out, a limit reached); a
condition that fails anyway (a race) makes the engine plan again, with a new coupon code.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.clock import iso, local_date
from chalicelib.domain import coupon_codes
from chalicelib.domain.coupons import Coupon, CouponRefused, CouponStatus, check_grantable, coupon_window
from chalicelib.domain.mall import MallCouponItem, MallPartnerCodeItem, MallRefused, RewardDefinition
from chalicelib.services.coupons import coupon_id_for
from chalicelib.settings import get_settings
from chalicelib.store import coupon_templates_repo as templates_repo
from chalicelib.store import coupons_repo, mall_repo

Stage = Callable[[Any], None]


@dataclass(frozen=True)
class Given:
    stages: tuple[Stage, ...] = ()
    items: int = 0  # transaction items the stages add
    coupon: Coupon | None = None
    partner_code: str | None = None


def give(
    definition: RewardDefinition, reward_id: str, member_id: str, redemption_id: str, request: str, now: datetime
) -> Given:
    """`request`: the redemption's idempotency key (its ledger entry id), which names the coupon."""
    if isinstance(definition.item, MallCouponItem):
        return _coupon(definition.item, reward_id, member_id, request, now)
    if isinstance(definition.item, MallPartnerCodeItem):
        return _partner_code(reward_id, member_id, redemption_id, now)
    return Given()


def _coupon(item: MallCouponItem, reward_id: str, member_id: str, request: str, now: datetime) -> Given:
    zone = get_settings().timezone
    template = templates_repo.get(item.coupon_template_id, consistent=False)
    template_id, limits = template.template_id, template.definition
    check_grantable(limits, template.status, now)
    shards = [s.index for s in templates_repo.load_shards(template_id, template.shards) if s.open and s.remaining > 0]
    if not shards:
        raise MallRefused("the coupon's stock is gone", field="reward_id", code="mall_sold_out")
    day = local_date(now, zone).isoformat()
    _below(limits.per_member_limit, templates_repo.member_claimed(template_id, member_id), "coupon_limit_reached")
    daily = limits.per_member_daily_limit
    if daily is not None:  # the day's count is keyed `<template>#m#<member>#<day>` (store/models/coupons.py)
        _below(daily, templates_repo.member_claimed(template_id, f"{member_id}#{day}"), "coupon_daily_limit_reached")
    valid_from, valid_until = coupon_window(limits.validity, now, zone)
    coupon = Coupon(
        coupon_id_for(request),
        member_id,
        template_id,
        coupon_codes.new_code(),
        limits.terms,
        valid_from,
        valid_until,
        CouponStatus.UNUSED,
        iso(now),
        f"mall:{reward_id}",
    )
    shard = random.choice(shards)

    def stage(tx: Any) -> None:
        coupons_repo.stage_new(tx, coupon, request, zone)
        templates_repo.stage_take(tx, template_id, shard)
        templates_repo.stage_member_count(tx, template_id, member_id, limits.per_member_limit)
        if daily is not None:
            templates_repo.stage_member_count(tx, template_id, member_id, daily, day)

    return Given((stage,), 4 + (daily is not None), coupon=coupon)


def _below(limit: int | None, claimed: int, code: str) -> None:
    if limit is not None and claimed >= limit:
        field = "per_member_daily_limit" if "daily" in code else "per_member_limit"
        raise CouponRefused(f"the coupon's limit of {limit} is reached", field=field, code=code)


def _partner_code(reward_id: str, member_id: str, redemption_id: str, now: datetime) -> Given:
    """A random code of a sample of the pool: redemptions racing for the pool rarely pick one
    code, and the one that loses plans again with another."""
    sample = mall_repo.pool_sample(reward_id)
    if not sample:
        raise MallRefused("no code left", field="reward_id", code="mall_sold_out")
    key, code = random.choice(sample)
    at = iso(now)
    return Given((lambda tx: mall_repo.stage_claim(tx, key, member_id, redemption_id, at),), 1, partner_code=code)
