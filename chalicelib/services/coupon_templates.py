"""Coupon templates (`/admin/coupon-templates`): create, edit, pause and resume, read.

A template is created with its stock spread over its shards in one transaction, once per
operator and Idempotency-Key. An edit names the version it was made from and commits only
if that is still the template's (409 otherwise: two operators never overwrite each other).
Stock already claimed never changes: raising the stock adds to the shards, lowering takes
from their unclaimed stock only, each shard guarded by what it holds, so a lowering racing
claims either fits what is left or is refused (409, `stock`). Every write is audited.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain import coupon_rules, coupon_stock
from chalicelib.domain.coupon_stock import StockFigures
from chalicelib.domain.coupons import (
    CouponRefused,
    CouponTemplate,
    Definition,
    TemplateStatus,
    TierRestricted,
    check_claimable,
)
from chalicelib.domain.errors import Busy, IdempotencyConflict
from chalicelib.retry import backoff
from chalicelib.services import programme
from chalicelib.settings import get_settings
from chalicelib.store import audit_repo, members_repo
from chalicelib.store import coupon_templates_repo as repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork


@dataclass(frozen=True)
class TemplateView:
    template: CouponTemplate
    stock: StockFigures


@dataclass(frozen=True)
class Offer:
    """A template as a member deciding to claim sees it: `refusal`, the code a claim now would meet."""

    template: CouponTemplate
    remaining: int
    claimed: int
    refusal: str | None


def template_id_for(operator: str, idempotency_key: str) -> str:
    """`ct_` + 16 hex: one template per operator and Idempotency-Key."""
    return "ct_" + hashlib.sha256(f"coupon-template\n{operator}\n{idempotency_key}".encode()).hexdigest()[:16]


def create(operator: str, data: dict[str, Any], shards: int | None, key: str, now: datetime) -> TemplateView:
    definition = coupon_rules.definition_from_dict(data)
    count = coupon_stock.shard_count(definition.stock, coupon_rules.check_shards(shards))
    template_id = template_id_for(operator, key)
    fingerprint = _fingerprint({"definition": coupon_rules.to_dict(definition), "shards": count})
    replay = _replayed(template_id, fingerprint)
    if replay is not None:
        return replay
    coupon_rules.check(definition, tier_codes(), now)
    at = iso(now)
    template = CouponTemplate(template_id, 1, TemplateStatus.ACTIVE, definition, count, at, operator, at, operator)
    audit_repo.describe(target=f"coupon_template:{template_id}", after=summary(template))
    tx = UnitOfWork(get_settings().region)
    repo.stage_create(tx, template, fingerprint, coupon_stock.spread(definition.stock, count))
    try:
        tx.commit()
    except TransactionFailed as failure:
        if not failure.failed(repo.TEMPLATE):
            raise
        replay = _replayed(template_id, fingerprint)  # a concurrent retry of the same request
        if replay is None:
            raise
        return replay
    return view(template_id)


def edit(template_id: str, data: dict[str, Any], version: int, operator: str, now: datetime) -> TemplateView:
    template = repo.get(template_id)
    definition = coupon_rules.definition_from_dict(data)
    _require_version(template, version)
    coupon_rules.check(definition, tier_codes(), now)
    for attempt in range(get_settings().tx_max_attempts):
        shards = repo.load_shards(template_id, template.shards)
        moves = _stock_moves(template.definition.stock, definition.stock, shards)
        audit_repo.describe(
            target=f"coupon_template:{template_id}", before=summary(template), after=summary(template, definition)
        )
        tx = UnitOfWork(get_settings().region)
        repo.stage_edit(tx, template, definition, iso(now), operator)
        repo.stage_stock(tx, template_id, moves)
        try:
            tx.commit()
        except TransactionFailed as failure:
            if failure.failed(repo.TEMPLATE):
                raise _stale(version) from failure
            if not (failure.refused or failure.retryable):
                raise
            backoff(attempt)  # claims took from a shard meanwhile: plan the lowering again
            continue
        return view(template_id)
    raise Busy(f"the stock of {template_id} kept moving under claims")


def set_status(template_id: str, status: TemplateStatus, operator: str, now: datetime) -> TemplateView:
    """Pause (暂停) or resume; the same status again changes nothing."""
    for attempt in range(get_settings().tx_max_attempts):
        template = repo.get(template_id)
        if template.status == status:
            return view(template_id)
        audit_repo.describe(
            target=f"coupon_template:{template_id}", before={"status": template.status}, after={"status": status}
        )
        tx = UnitOfWork(get_settings().region)
        repo.stage_status(tx, template, status, iso(now), operator)
        try:
            tx.commit()
        except TransactionFailed as failure:
            if not (failure.failed(repo.TEMPLATE) or failure.retryable):
                raise
            backoff(attempt)  # an edit moved the version: read it again
            continue
        return view(template_id)
    raise Busy(f"{template_id} kept changing")


def view(template_id: str) -> TemplateView:
    template = repo.get(template_id)
    return TemplateView(template, figures(template))


def offer(template_id: str, member_id: str, now: datetime) -> Offer:
    member = members_repo.get_live_member(member_id)
    template = repo.get(template_id, consistent=False)
    remaining = figures(template).remaining
    claimed = repo.member_claimed(template_id, member.member_id)
    limit = template.definition.per_member_limit
    try:
        check_claimable(template.definition, template.status, member.tier_code, now)
        refusal = "coupon_sold_out" if remaining == 0 else None
        refusal = "coupon_limit_reached" if limit is not None and claimed >= limit else refusal
    except (CouponRefused, TierRestricted) as refused:
        refusal = refused.code
    return Offer(template, remaining, claimed, refusal)


def listing(limit: int) -> list[CouponTemplate]:
    return repo.listing(limit)


def figures(template: CouponTemplate) -> StockFigures:
    shards = repo.load_shards(template.template_id, template.shards)
    remaining = [shard.remaining for shard in shards]
    claimed = sum(shard.claimed for shard in shards)
    return StockFigures(stock=claimed + sum(remaining), claimed=claimed, remaining=sum(remaining), per_shard=remaining)


def tier_codes() -> list[str]:
    return [tier.code for tier in programme.current().tiers]


def summary(template: CouponTemplate, definition: Definition | None = None) -> dict[str, Any]:
    """For the audit trail: small, and no key the trail's filter would redact (`name`, `*code*`)."""
    shown = definition or template.definition
    return {
        "version": template.version + (1 if definition else 0),
        "status": template.status.value,
        "title": shown.terms.name,
        "kind": shown.terms.benefit.kind.value,
        "stock": shown.stock,
        "per_member_limit": shown.per_member_limit,
        "tiers": list(shown.tiers),
    }


def _stock_moves(before: int, after: int, shards: list[repo.Shard]) -> list[int]:
    if after >= before:
        return coupon_stock.spread(after - before, len(shards))
    takes = coupon_stock.plan_lowering([shard.remaining for shard in shards], before - after)
    if takes is None:
        claimed = sum(shard.claimed for shard in shards)
        raise CouponRefused(
            f"{claimed} of {before} are claimed: the stock cannot go below that",
            field="stock",
            code="coupon_stock_below_claimed",
        )
    return [-take for take in takes]


def _require_version(template: CouponTemplate, version: int) -> None:
    if template.version != version:
        raise _stale(version)


def _stale(version: int) -> CouponRefused:
    return CouponRefused(
        f"the template changed since version {version}: read it again",
        field="version",
        code="coupon_template_version_conflict",
    )


def _replayed(template_id: str, fingerprint: str) -> TemplateView | None:
    found = repo.find(template_id)
    if found is None:
        return None
    if found[1] != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key created another template", field="Idempotency-Key")
    return view(template_id)


def _fingerprint(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()
