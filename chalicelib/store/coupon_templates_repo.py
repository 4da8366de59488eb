"""Coupon templates, their stock shards and claim counters (CouponTemplateModel).

Staged writes and their tags: `coupon:template` (a new template, put only if absent; an edit
or a status change, only if the version is still the one read), `coupon:shard:<n>` (a claim
takes one if `remaining >= 1` and the shard is open; a lowering takes only what it holds),
`coupon:member` and `coupon:day` (a member's claims, below the template's limits). A refused
tag names the rule that held: the service turns it into the member's error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain import coupon_rules
from chalicelib.domain.coupons import CouponNotFound, CouponTemplate, Definition, TemplateStatus
from chalicelib.store.models import CouponTemplateModel as T
from chalicelib.store.tx import UnitOfWork

TEMPLATE = "coupon:template"
MEMBER = "coupon:member"
DAY = "coupon:day"
LISTED = "template"


@dataclass(frozen=True)
class Shard:
    index: int
    remaining: int
    claimed: int
    open: bool


def shard_tag(index: int) -> str:
    return f"coupon:shard:{index}"


def shard_key(template_id: str, index: int) -> str:
    return f"{template_id}#s{index:02d}"


def get(template_id: str, *, consistent: bool = True) -> CouponTemplate:
    """`consistent=False` for claims: a flash sale reads the template on every claim, and an
    eventually consistent read costs half (one partition serves ~6,000 a second); a pause is
    mirrored on the shards, so a stale read cannot take stock from a paused template."""
    found = find(template_id, consistent=consistent)
    if found is None:
        raise CouponNotFound(f"no coupon template {template_id}", field="template_id")
    return found[0]


def find(template_id: str, *, consistent: bool = True) -> tuple[CouponTemplate, str] | None:
    """The template and the fingerprint of the request that created it."""
    try:
        item = T.get(template_id, consistent_read=consistent)
    except T.DoesNotExist:
        return None
    if item.listed != LISTED:  # a shard's or a counter's key is not a template id
        return None
    return _template(item), item.fingerprint or ""


def listing(limit: int) -> list[CouponTemplate]:
    """Newest first, from the sparse index: templates only."""
    return [_template(item) for item in T.by_listed.query(LISTED, scan_index_forward=False, limit=limit)]


def load_shards(template_id: str, count: int) -> list[Shard]:
    """Every shard in one BatchGetItem. Eventually consistent is enough: the claim's condition
    is the guard, the read only chooses where to try."""
    items = T.batch_get([shard_key(template_id, index) for index in range(count)])
    by_key = {item.pk: item for item in items}
    return [_shard(index, by_key.get(shard_key(template_id, index))) for index in range(count)]


def member_claimed(template_id: str, member_id: str) -> int:
    try:
        return int(T.get(f"{template_id}#m#{member_id}").claimed or 0)
    except T.DoesNotExist:
        return 0


def stage_create(tx: UnitOfWork, template: CouponTemplate, fingerprint: str, stock: list[int]) -> None:
    item = T(
        template.template_id,
        version=template.version,
        status=template.status.value,
        definition=coupon_rules.to_dict(template.definition),
        fingerprint=fingerprint,
        shards=template.shards,
        title=template.definition.terms.name,
        created_at=template.created_at,
        created_by=template.created_by,
        updated_at=template.updated_at,
        updated_by=template.updated_by,
        listed=LISTED,
    )
    tx.put(TEMPLATE, item, condition=T.pk.does_not_exist())
    for index, remaining in enumerate(stock):
        shard = T(shard_key(template.template_id, index), remaining=remaining, claimed=0, open=True)
        tx.put(shard_tag(index), shard, condition=T.pk.does_not_exist())


def stage_edit(tx: UnitOfWork, template: CouponTemplate, definition: Definition, at: str, by: str) -> None:
    actions = [
        T.definition.set(coupon_rules.to_dict(definition)),
        T.title.set(definition.terms.name),
        *_touched(template, at, by),
    ]
    tx.update(TEMPLATE, T(template.template_id), actions=actions, condition=T.version == template.version)


def stage_status(tx: UnitOfWork, template: CouponTemplate, status: TemplateStatus, at: str, by: str) -> None:
    """The status, mirrored onto every shard: a claim that read `active` cannot take stock
    from a template paused meanwhile."""
    actions = [T.status.set(status.value), *_touched(template, at, by)]
    tx.update(TEMPLATE, T(template.template_id), actions=actions, condition=T.version == template.version)
    for index in range(template.shards):
        shard = T(shard_key(template.template_id, index))
        tx.update(shard_tag(index), shard, [T.open.set(status == TemplateStatus.ACTIVE)], T.pk.exists())


def stage_stock(tx: UnitOfWork, template_id: str, moves: list[int]) -> None:
    """Adds each move to its shard's unclaimed stock; a negative one only if the shard holds it."""
    for index, move in enumerate(moves):
        if move:
            guard = T.remaining >= -move if move < 0 else T.pk.exists()
            tx.update(shard_tag(index), T(shard_key(template_id, index)), [T.remaining.add(move)], guard)


def stage_take(tx: UnitOfWork, template_id: str, index: int) -> None:
    guard = (T.remaining >= 1) & (T.open == True)  # noqa: E712 - PynamoDB builds the condition
    tx.update(shard_tag(index), T(shard_key(template_id, index)), [T.remaining.add(-1), T.claimed.add(1)], guard)


def stage_member_count(
    tx: UnitOfWork, template_id: str, member_id: str, limit: int | None, day: str | None = None
) -> None:
    """One more claim by the member, in all (`day` None) or on that day, below `limit`."""
    key = f"{template_id}#m#{member_id}" + (f"#{day}" if day else "")
    actions: list[Any] = [T.claimed.add(1)]
    if day:
        tidy = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=3)  # housekeeping only
        actions.append(T.expires_at.set(tidy))
    guard = None if limit is None else (T.claimed.does_not_exist() | (T.claimed < limit))
    tx.update(DAY if day else MEMBER, T(key), actions=actions, condition=guard)


def _touched(template: CouponTemplate, at: str, by: str) -> list[Any]:
    return [T.version.set(template.version + 1), T.updated_at.set(at), T.updated_by.set(by)]


def _template(item: T) -> CouponTemplate:
    return CouponTemplate(
        template_id=item.pk,
        version=int(item.version or 0),
        status=TemplateStatus(item.status or TemplateStatus.ACTIVE),
        definition=coupon_rules.definition_from_dict(item.definition),
        shards=int(item.shards or 1),
        created_at=item.created_at or "",
        created_by=item.created_by or "",
        updated_at=item.updated_at or "",
        updated_by=item.updated_by or "",
    )


def _shard(index: int, item: T | None) -> Shard:
    if item is None:
        return Shard(index, 0, 0, False)
    return Shard(index, int(item.remaining or 0), int(item.claimed or 0), bool(item.open))
