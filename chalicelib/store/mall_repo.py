"""Points mall rewards, members' counts and partner code pools (MallRewardModel).

Staged writes and their tags: `mall:reward` (a new reward, put only if absent; an edit or a
status change, only if the version is still the one read; a redemption takes units only while
`remaining >= quantity`, the reward active and at the version the price was read from; a
cancel gives them back), `mall:count` (the member's count, moved from what the plan read),
`mall:code` (a partner code claimed only while unclaimed) and `mall:code:<n>` (an upload's
codes, each put only if new: a code is in a pool once, whatever is uploaded twice).
"""

from __future__ import annotations

import hashlib
from typing import Any

from chalicelib.domain.mall import MallNotFound, MemberCount, Reward, RewardDefinition, RewardStatus
from chalicelib.store.models import MallRewardModel as R
from chalicelib.store.tx import UnitOfWork

REWARD = "mall:reward"
COUNT = "mall:count"
CODE = "mall:code"
LISTED = "reward"
POOL_SAMPLE = 20  # unclaimed codes a redemption chooses among: racing redemptions rarely pick one


def code_tag(index: int) -> str:
    return f"{CODE}:{index}"


def count_key(reward_id: str, member_id: str) -> str:
    return f"{reward_id}#m#{member_id}"


def code_key(reward_id: str, code: str) -> str:
    """Keyed by a digest: the key names the code without holding it."""
    return f"{reward_id}#c#{hashlib.sha256(code.encode()).hexdigest()[:32]}"


def get(reward_id: str) -> Reward:
    found = find(reward_id)
    if found is None:
        raise MallNotFound(f"no reward {reward_id}", field="reward_id")
    return found[0]


def find(reward_id: str) -> tuple[Reward, str] | None:
    """The reward (read consistently: its stock and version guard a redemption) and the
    fingerprint of the request that created it."""
    try:
        item = R.get(reward_id, consistent_read=True)
    except R.DoesNotExist:
        return None
    if item.listed != LISTED:  # a count's or a code's key is not a reward id
        return None
    return _reward(item), item.fingerprint or ""


def listing(limit: int) -> list[Reward]:
    """Newest first, from the sparse index: rewards only."""
    return [_reward(item) for item in R.by_listed.query(LISTED, scan_index_forward=False, limit=limit)]


def stage_create(tx: UnitOfWork, reward: Reward, fingerprint: str) -> None:
    item = R(
        reward.reward_id,
        version=reward.version,
        status=reward.status.value,
        definition=reward.definition.model_dump(mode="json"),
        fingerprint=fingerprint,
        title=reward.definition.name,
        kind=reward.definition.kind.value,
        remaining=reward.remaining,
        redeemed=0,
        created_at=reward.created_at,
        created_by=reward.created_by,
        updated_at=reward.updated_at,
        updated_by=reward.updated_by,
        listed=LISTED,
    )
    tx.put(REWARD, item, condition=R.pk.does_not_exist())


def stage_edit(tx: UnitOfWork, reward: Reward, definition: RewardDefinition, move: int, at: str, by: str) -> None:
    """The new definition from the version read; a stock move adds to what is left, a lowering
    only what is left holds (never below what was redeemed)."""
    actions = [
        R.definition.set(definition.model_dump(mode="json")),
        R.title.set(definition.name),
        *_touched(reward, at, by),
    ]
    guard = R.version == reward.version
    if move:
        actions.append(R.remaining.add(move))
        guard &= R.remaining >= -move if move < 0 else R.pk.exists()
    tx.update(REWARD, R(reward.reward_id), actions=actions, condition=guard)


def stage_status(tx: UnitOfWork, reward: Reward, status: RewardStatus, at: str, by: str) -> None:
    actions = [R.status.set(status.value), *_touched(reward, at, by)]
    tx.update(REWARD, R(reward.reward_id), actions=actions, condition=R.version == reward.version)


def stage_take(tx: UnitOfWork, reward: Reward, quantity: int) -> None:
    guard = (R.version == reward.version) & (R.status == RewardStatus.ACTIVE.value) & (R.remaining >= quantity)
    actions = [R.remaining.add(-quantity), R.redeemed.add(quantity)]
    tx.update(REWARD, R(reward.reward_id), actions=actions, condition=guard)


def stage_give_back(tx: UnitOfWork, reward_id: str, quantity: int) -> None:
    """A cancelled redemption's units, back in stock (a paused or edited reward takes them too)."""
    actions = [R.remaining.add(quantity), R.redeemed.add(-quantity)]
    tx.update(REWARD, R(reward_id), actions=actions, condition=R.redeemed >= quantity)


def get_count(reward_id: str, member_id: str) -> MemberCount:
    try:
        return _count(R.get(count_key(reward_id, member_id), consistent_read=True))
    except R.DoesNotExist:
        return MemberCount()


def counts(reward_ids: list[str], member_id: str) -> dict[str, MemberCount]:
    """The member's counts of these rewards in one BatchGetItem (at most 100)."""
    keys = {count_key(reward_id, member_id): reward_id for reward_id in reward_ids}
    found = {item.pk: _count(item) for item in R.batch_get(list(keys))} if keys else {}
    return {reward_id: found.get(key, MemberCount()) for key, reward_id in keys.items()}


def stage_count(tx: UnitOfWork, reward_id: str, member_id: str, read: MemberCount, quantity: int, key: str) -> None:
    """The member's count up by `quantity` in the period `key`, only if it is still what the plan read."""
    after = read.plus(quantity, key)
    same_key = R.period_key.does_not_exist() if read.period_key is None else R.period_key == read.period_key
    guard = R.pk.does_not_exist() | ((R.total == read.total) & (R.period_count == read.period_count) & same_key)
    actions = [R.total.set(after.total), R.period_key.set(key), R.period_count.set(after.period_count)]
    tx.update(COUNT, R(count_key(reward_id, member_id)), actions=actions, condition=guard)


def stage_uncount(
    tx: UnitOfWork, reward_id: str, member_id: str, quantity: int, period: str | None, read: str | None
) -> None:
    """A cancelled redemption leaves the member's count: its period's too while that period is
    the count's (`read`, what the plan saw: a period that rolled over since fails the guard)."""
    actions: list[Any] = [R.total.add(-quantity)]
    guard = R.total >= quantity
    if period is not None and period == read:
        actions.append(R.period_count.add(-quantity))
        guard &= R.period_key == period
    else:
        guard &= R.period_key.does_not_exist() if read is None else R.period_key == read
    tx.update(COUNT, R(count_key(reward_id, member_id)), actions=actions, condition=guard)


def stage_codes(tx: UnitOfWork, reward_id: str, codes: list[str]) -> None:
    """Codes into the pool (each only if new) and the reward's stock up by as many."""
    for index, code in enumerate(codes):
        item = R(code_key(reward_id, code), code=code, pool=reward_id)
        tx.put(code_tag(index), item, condition=R.pk.does_not_exist())
    tx.update(REWARD, R(reward_id), actions=[R.remaining.add(len(codes))], condition=R.listed == LISTED)


def pool_sample(reward_id: str) -> list[tuple[str, str]]:
    """(key, code) of some unclaimed codes, from the sparse index."""
    return [(item.pk, item.code or "") for item in R.by_pool.query(reward_id, limit=POOL_SAMPLE)]


def stage_claim(tx: UnitOfWork, key: str, member_id: str, redemption_id: str, at: str) -> None:
    actions = [R.claimed_by.set(member_id), R.redemption_id.set(redemption_id), R.claimed_at.set(at), R.pool.remove()]
    tx.update(CODE, R(key), actions=actions, condition=R.pk.exists() & R.claimed_by.does_not_exist())


def _touched(reward: Reward, at: str, by: str) -> list[Any]:
    return [R.version.set(reward.version + 1), R.updated_at.set(at), R.updated_by.set(by)]


def _reward(item: R) -> Reward:
    return Reward(
        reward_id=item.pk,
        version=int(item.version or 0),
        status=RewardStatus(item.status or RewardStatus.ACTIVE),
        definition=RewardDefinition.model_validate(item.definition, strict=False),
        remaining=int(item.remaining or 0),
        redeemed=int(item.redeemed or 0),
        created_at=item.created_at or "",
        created_by=item.created_by or "",
        updated_at=item.updated_at or "",
        updated_by=item.updated_by or "",
    )


def _count(item: R) -> MemberCount:
    return MemberCount(int(item.total or 0), item.period_key, int(item.period_count or 0))
