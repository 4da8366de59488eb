"""The points mall in the console (`/admin/mall/...`): rewards (create, edit from a version,
pause and resume, partner code uploads) and fulfilments (ship, deliver, cancel).

Every write commits through a unit of work and is audited by its first commit. A reward is
created once per operator and Idempotency-Key; an edit names the version it was made from
(409 if it moved) and keeps what was redeemed: the stock moves by the difference, a lowering
only within what is left. A kind is fixed once created (a physical gift with parcels under
way does not turn into a coupon). Codes are uploaded in transactions of at most
`CODES_PER_TX`, each code only if it is new to the pool, with the stock up by as many: an
upload sent twice adds nothing the second time, and names the codes it already had.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain.errors import Busy, IdempotencyConflict, InvalidInput
from chalicelib.domain.mall import MallRefused, Reward, RewardDefinition, RewardKind, RewardStatus
from chalicelib.retry import backoff
from chalicelib.services import programme
from chalicelib.settings import get_settings
from chalicelib.store import audit_repo, mall_repo
from chalicelib.store import coupon_templates_repo as templates_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork

CODES_PER_TX = 20  # + the reward and the audit entry: within the embedded DynamoDB's 25 items


@dataclass(frozen=True)
class Upload:
    added: int
    duplicates: list[str]  # already in the pool (or twice in the request): not added again
    remaining: int


def reward_id_for(operator: str, idempotency_key: str) -> str:
    """`rw_` + 16 hex: one reward per operator and Idempotency-Key."""
    return "rw_" + hashlib.sha256(f"mall-reward\n{operator}\n{idempotency_key}".encode()).hexdigest()[:16]


def create(operator: str, definition: RewardDefinition, key: str, now: datetime) -> Reward:
    reward_id = reward_id_for(operator, key)
    fingerprint = hashlib.sha256(json.dumps(definition.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    replay = _replayed(reward_id, fingerprint)
    if replay is not None:
        return replay
    _check(definition)
    at = iso(now)
    reward = Reward(reward_id, 1, RewardStatus.ACTIVE, definition, definition.stock or 0, 0, at, operator, at, operator)
    audit_repo.describe(target=f"reward:{reward_id}", after=summary(reward))
    tx = UnitOfWork(get_settings().region)
    mall_repo.stage_create(tx, reward, fingerprint)
    try:
        tx.commit()
    except TransactionFailed as failure:
        replay = _replayed(reward_id, fingerprint) if failure.failed(mall_repo.REWARD) else None
        if replay is None:
            raise
        return replay  # a concurrent retry of the same request
    return mall_repo.get(reward_id)


def edit(reward_id: str, definition: RewardDefinition, version: int, operator: str, now: datetime) -> Reward:
    _check(definition)
    for attempt in range(get_settings().tx_max_attempts):
        reward = mall_repo.get(reward_id)
        if reward.version != version:
            raise _stale(version)
        if definition.kind != reward.definition.kind:
            raise MallRefused("a reward's kind is fixed", field="item.kind", code="mall_kind_fixed")
        move = (definition.stock or 0) - (reward.definition.stock or 0)
        if move < 0 and reward.remaining < -move:
            raise MallRefused(
                f"{reward.redeemed} are redeemed: the stock cannot go below that",
                field="item.stock",
                code="mall_stock_below_redeemed",
            )
        audit_repo.describe(target=f"reward:{reward_id}", before=summary(reward), after=summary(reward, definition))
        tx = UnitOfWork(get_settings().region)
        mall_repo.stage_edit(tx, reward, definition, move, iso(now), operator)
        try:
            tx.commit()
        except TransactionFailed as failure:
            if not (failure.refused or failure.retryable):
                raise
            backoff(attempt)  # the version moved (409 on the next read) or redemptions took units
            continue
        return mall_repo.get(reward_id)
    raise Busy(f"the stock of {reward_id} kept moving under redemptions")


def set_status(reward_id: str, status: RewardStatus, operator: str, now: datetime) -> Reward:
    """Pause (暂停兑换) or resume; the same status again changes nothing."""
    for attempt in range(get_settings().tx_max_attempts):
        reward = mall_repo.get(reward_id)
        if reward.status == status:
            return reward
        audit_repo.describe(target=f"reward:{reward_id}", before={"status": reward.status}, after={"status": status})
        tx = UnitOfWork(get_settings().region)
        mall_repo.stage_status(tx, reward, status, iso(now), operator)
        try:
            tx.commit()
        except TransactionFailed as failure:
            if not (failure.refused or failure.retryable):
                raise
            backoff(attempt)  # an edit moved the version: read it again
            continue
        return mall_repo.get(reward_id)
    raise Busy(f"{reward_id} kept changing")


def upload_codes(reward_id: str, codes: list[str], now: datetime) -> Upload:
    reward = mall_repo.get(reward_id)
    if reward.definition.kind != RewardKind.PARTNER_CODE:
        raise MallRefused("codes are for a partner-code reward", field="reward_id", code="mall_not_partner_code")
    unique: list[str] = []
    duplicates: list[str] = []
    seen: set[str] = set()
    for code in codes:
        (duplicates if code in seen else unique).append(code)
        seen.add(code)
    added = 0
    audit_repo.describe(target=f"reward:{reward_id}", after={"uploaded": len(codes), "at": iso(now)})
    for start in range(0, len(unique), CODES_PER_TX):
        chunk_added, chunk_known = _upload_chunk(reward_id, unique[start : start + CODES_PER_TX])
        added += chunk_added
        duplicates += chunk_known
    return Upload(added, duplicates, mall_repo.get(reward_id).remaining)


def _upload_chunk(reward_id: str, codes: list[str]) -> tuple[int, list[str]]:
    """The chunk's new codes in one transaction; a code the pool has is named and left out."""
    known: list[str] = []
    for attempt in range(get_settings().tx_max_attempts):
        if not codes:
            return 0, known
        tx = UnitOfWork(get_settings().region)
        mall_repo.stage_codes(tx, reward_id, codes)
        try:
            tx.commit()
        except TransactionFailed as failure:
            taken = {int(tag.rsplit(":", 1)[1]) for tag in failure.failed_tags(mall_repo.CODE + ":")}
            if not taken and not failure.retryable:
                raise
            known += [code for index, code in enumerate(codes) if index in taken]
            codes = [code for index, code in enumerate(codes) if index not in taken]
            if not taken:
                backoff(attempt)
            continue
        return len(codes), known
    raise Busy(f"codes of {reward_id} kept conflicting")


def listing(limit: int) -> list[Reward]:
    return mall_repo.listing(limit)


def summary(reward: Reward, definition: RewardDefinition | None = None) -> dict[str, Any]:
    """For the audit trail: small, and no key its filter would redact (`name`, `*code*`)."""
    shown = definition or reward.definition
    return {
        "version": reward.version + (1 if definition else 0),
        "status": reward.status.value,
        "title": shown.name,
        "kind": shown.kind.value,
        "points": shown.points,
        "cash_fen": shown.cash_fen,
        "stock": shown.stock,
        "per_member_limit": shown.per_member_limit,
        "per_period_limit": shown.per_period_limit,
        "tiers": list(shown.tiers),
    }


def _check(definition: RewardDefinition) -> None:
    """The rules that need the world: tiers of the programme, a coupon template that exists."""
    known = {tier.code for tier in programme.current().tiers}
    unknown = [code for code in definition.tiers if code not in known]
    if unknown:
        raise InvalidInput(f"not tiers of the programme: {', '.join(unknown)}", field="tiers")
    template_id = getattr(definition.item, "coupon_template_id", None)
    if template_id is not None and templates_repo.find(template_id, consistent=False) is None:
        raise InvalidInput(f"no coupon template {template_id}", field="item.coupon_template_id")


def _stale(version: int) -> MallRefused:
    return MallRefused(
        f"the reward changed since version {version}: read it again", field="version", code="mall_version_conflict"
    )


def _replayed(reward_id: str, fingerprint: str) -> Reward | None:
    found = mall_repo.find(reward_id)
    if found is None:
        return None
    if found[1] != fingerprint:
        raise IdempotencyConflict("this Idempotency-Key created another reward", field="Idempotency-Key")
    return found[0]
