"""Tier review (保级) persistence: the member item's growth buckets and review calendar, the
sparse `tier-due` index the review job reads, and the review's own commit.

The state is written whole (`SET growth_months = {...}`), never by document path: every write
is guarded by the member's version, so the plan that computed it saw the item as it is.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import date
from typing import Any

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.members import Member
from chalicelib.domain.tiers import TierState
from chalicelib.settings import get_settings
from chalicelib.store import jobs_repo
from chalicelib.store.models import MemberModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

TIER_DUE_SHARDS = 8
Cursor = dict[str, Any] | None


class ReviewStale(Exception):
    """The member changed since the review read it (an order, a merge): read and decide again."""


def due_shard(member_id: str) -> str:
    """The member's shard of the `tier-due` index, stable per member."""
    return str(zlib.crc32(member_id.encode()) % TIER_DUE_SHARDS)


def state_from_model(item: MemberModel) -> TierState:
    months = item.growth_months or {}
    return TierState(
        growth_months={str(month): int(value) for month, value in months.items()},
        review_on=_day(item.tier_review_on),
        upgraded_on=_day(item.tier_upgraded_on),
        warned_for=_day(item.tier_warned_for),
        due_on=_day(item.tier_due_on),
    )


def state_actions(member_id: str, state: TierState) -> list[Any]:
    """The update actions that store `state` on the member item; the index keys are set
    together or removed together (a member with no review leaves the index)."""
    actions: list[Any] = [
        MemberModel.growth_months.set(dict(state.growth_months))
        if state.growth_months
        else MemberModel.growth_months.remove()
    ]
    for attribute, value in (
        (MemberModel.tier_review_on, state.review_on),
        (MemberModel.tier_upgraded_on, state.upgraded_on),
        (MemberModel.tier_warned_for, state.warned_for),
        (MemberModel.tier_due_on, state.due_on),
    ):
        actions.append(attribute.set(value.isoformat()) if value else attribute.remove())
    shard = MemberModel.tier_due_shard
    actions.append(shard.set(due_shard(member_id)) if state.due_on else shard.remove())
    return actions


def members_due(shard: int, day: date, cursor: Cursor, limit: int) -> tuple[list[str], Cursor]:
    """Member ids of one shard whose next tier action is due on or before `day` (the index
    holds members with a review only, so this reads what is due, never the table)."""
    results = MemberModel.by_tier_due.query(
        str(shard),
        MemberModel.tier_due_on <= day.isoformat(),
        limit=limit,
        last_evaluated_key=cursor,
        page_size=limit,
    )
    items, last = jobs_repo.page(results, limit)
    return [item.member_id for item in items], last


def commit_review(member: Member, tier_code: str, state: TierState, events: Sequence[DomainEvent]) -> None:
    """The review's outcome, with its events (the outbox), in one transaction guarded by the
    version it was decided from; the version moves on, so an order planned from the old tier
    plans again."""
    tx = UnitOfWork(get_settings().region)
    actions = [MemberModel.version.set(member.version + 1), *state_actions(member.member_id, state)]
    if tier_code != member.tier_code:
        actions.append(MemberModel.tier_code.set(tier_code))
    guard = (
        MemberModel.member_id.exists()
        & (MemberModel.version == member.version)
        & MemberModel.merged_into.does_not_exist()
    )
    tx.update("member", MemberModel(member.member_id), actions=actions, condition=guard)
    for event in events:
        tx.stage_event(event)
    if tier_code != member.tier_code:  # the member card (会员卡) shows the tier
        from chalicelib.clock import iso, utc_now
        from chalicelib.store import member_card_repo

        at = events[0].occurred_at if events else iso(utc_now())
        cause = f"tier-review:{member.member_id}:{member.version}"
        member_card_repo.stage_sync(tx, member.member_id, cause, at, holder=member.card_code is not None)
    try:
        tx.commit()
    except TransactionFailed as failure:
        if failure.failed("member") or failure.retryable:
            raise ReviewStale(member.member_id) from failure
        raise


def leave_index(member_id: str, version: int) -> None:
    """A merged or closed member found in the index: off the review calendar, for good."""
    tx = UnitOfWork(get_settings().region)
    actions = [MemberModel.tier_due_on.remove(), MemberModel.tier_due_shard.remove()]
    tx.update("member", MemberModel(member_id), actions=actions, condition=MemberModel.version == version)
    try:
        tx.commit()
    except TransactionFailed as failure:
        if not failure.failed("member"):
            raise


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None
