"""Member card persistence (会员卡): the card with us, what we pushed, and the sync trigger.

`stage_sync` is the ONE trigger of a card sync: points_repo.add_change and wallet_repo.
stage_change call it for the member they change, so every points, wallet or tier change of
a member holding a card stages a `task.card_sync` event in its own transaction (the outbox),
with an id derived from its cause (the ledger entry, the wallet sequence): a replayed request,
which commits nothing, stages nothing. It costs one consistent GetItem of the card per change
and one more transaction item for card holders only; one event per member per transaction.

Every record of a push is guarded by the version read before the push (`record`): a sync that
lost the race learns it and pushes again from a fresh read (services/member_card.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import date
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.ledger import TX_MAX_ITEMS
from chalicelib.domain.member_card import CardState, CardStatus, CardView, SyncOutcome
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store.errors import condition_failed
from chalicelib.store.models import MemberCardModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

SYNC_TASK = "task.card_sync"
SHARDS = 8
FORM_PREFIX = "form:"


class CardMoved(Exception):
    """The card's record changed since it was read (another sync, a link or unlink): read again."""


def changed_shard(day: date, member_id: str) -> str:
    return f"{day.isoformat()}#{zlib.crc32(member_id.encode()) % SHARDS}"


def get(member_id: str) -> CardState | None:
    try:
        item = MemberCardModel.get(member_id, consistent_read=True)
    except MemberCardModel.DoesNotExist:
        return None
    return _state(item)


def holds_card(member_id: str) -> bool:
    """A linked or active card (one consistent read of two attributes)."""
    try:
        item = MemberCardModel.get(member_id, consistent_read=True, attributes_to_get=["member_id", "status"])
    except MemberCardModel.DoesNotExist:
        return False
    return item.status is not None and CardStatus(item.status).synced


def stage_sync(tx: UnitOfWork, member_id: str, cause_id: str, at: str, *, holder: bool | None = None) -> bool:
    """The card sync of a change, in the change's transaction, for a member holding a card.
    `holder`: what the caller read on the member (Member.card_code); unknown (a wallet change),
    the card record is read, once per transaction."""
    prefix = f"event:card-sync:{member_id}:"
    if any(tag.startswith(prefix) for tag in tx.tags()):
        return False
    known = tx.notes.setdefault("card_holders", {})
    if holder is not None:
        known[member_id] = holder
    if member_id not in known:
        known[member_id] = holds_card(member_id)
    if not known[member_id]:
        return False
    if tx.size >= TX_MAX_ITEMS:
        # A transaction the planner filled to the embedded DynamoDB's limit: the sync is left to
        # the member's next change or an operator's re-sync, rather than refusing the change.
        logger.warning("card sync not staged: transaction full", extra={"member_id": member_id})
        return False
    event_id = f"card-sync:{member_id}:{cause_id}"
    tx.stage_event(DomainEvent(event_id, SYNC_TASK, member_id, at, {"cause": cause_id}))
    return True


def stage_link(tx: UnitOfWork, state: CardState | None, linked: CardState, day: date) -> None:
    """A card taken (or taken again): code, card_id, status LINKED, nothing pushed yet, guarded
    by the version read (None: no record yet)."""
    actions = [
        MemberCardModel.code.set(linked.code),
        MemberCardModel.card_id.set(linked.card_id),
        MemberCardModel.status.set(str(CardStatus.LINKED)),
        MemberCardModel.version.set(linked.version),
        MemberCardModel.linked_at.set(linked.linked_at or ""),
        MemberCardModel.pushed_bonus.remove(),
        MemberCardModel.pushed_balance.remove(),
        MemberCardModel.pushed_level.remove(),
        MemberCardModel.pushed_at.remove(),
        MemberCardModel.error.remove(),
        *_changed(linked.member_id, day),
    ]
    tx.update("card", MemberCardModel(linked.member_id), actions=actions, condition=_guard(state))


def link(state: CardState | None, linked: CardState, day: date, event: DomainEvent) -> None:
    """The link and its first sync (the activation), in one transaction."""
    tx = UnitOfWork(get_settings().region)
    stage_link(tx, state, linked, day)
    tx.stage_event(event)
    _commit(tx)


def record(
    state: CardState, *, status: CardStatus, pushed: CardView | None, outcome: SyncOutcome, at: str, day: date
) -> None:
    """What a sync did, under the version it read; `CardMoved` when the record moved since."""
    actions = [
        MemberCardModel.version.set(state.version + 1),
        MemberCardModel.status.set(str(status)),
        MemberCardModel.outcome.set(str(outcome)),
        MemberCardModel.outcome_at.set(at),
        MemberCardModel.error.remove(),
        *_changed(state.member_id, day),
    ]
    if pushed is not None:
        actions += [
            MemberCardModel.pushed_bonus.set(pushed.bonus),
            MemberCardModel.pushed_balance.set(pushed.balance),
            MemberCardModel.pushed_level.set(pushed.level),
            MemberCardModel.pushed_at.set(at),
        ]
    tx = UnitOfWork(get_settings().region)
    tx.update("card", MemberCardModel(state.member_id), actions=actions, condition=_guard(state))
    _commit(tx)


def record_failure(member_id: str, outcome: SyncOutcome, error: str, at: str) -> None:
    """A failed sync's outcome, for operators; it moves no version (nothing was pushed for sure)
    but marks the card changed today, so the nightly check reads it back and corrects it."""
    from datetime import datetime

    from chalicelib.clock import local_date

    day = local_date(datetime.fromisoformat(at), get_settings().timezone)
    actions: list[Any] = [
        MemberCardModel.outcome.set(str(outcome)),
        MemberCardModel.outcome_at.set(at),
        MemberCardModel.error.set(error[:200]),
        *_changed(member_id, day),
    ]
    try:
        MemberCardModel(member_id).update(actions=actions, condition=MemberCardModel.member_id.exists())
    except UpdateError as error_:
        if not condition_failed(error_):
            raise


def unlink(member_id: str, code: str, at: str, day: date) -> bool:
    """The member deleted this card (a newer card taken since stays); True when it was theirs."""
    actions: list[Any] = [
        MemberCardModel.status.set(str(CardStatus.UNLINKED)),
        MemberCardModel.version.add(1),
        MemberCardModel.outcome_at.set(at),
        *_changed(member_id, day),
    ]
    try:
        MemberCardModel(member_id).update(actions=actions, condition=MemberCardModel.code == code)
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise
    return True


def move(state: CardState, survivor: CardState | None, survivor_id: str, at: str, day: date) -> None:
    """A merged member's card follows its survivor (who holds none, or only a deleted one): one
    transaction, both records guarded by the versions read."""
    tx = UnitOfWork(get_settings().region)
    tx.delete("card", MemberCardModel(state.member_id), condition=_guard(state))
    version = survivor.version + 1 if survivor else 1
    moved = CardState(survivor_id, state.code, state.card_id, state.status, version=version, linked_at=at)
    tx.put("survivor-card", _model(moved, state.pushed, day), condition=_guard(survivor))
    _commit(tx)


def supersede(state: CardState, at: str, day: date) -> None:
    record(state, status=CardStatus.SUPERSEDED, pushed=None, outcome=SyncOutcome.UNCHANGED, at=at, day=day)


def stage_forget(tx: UnitOfWork, member_id: str) -> None:
    """An account's closing (注销, services/privacy_deletion.py): the card record goes with it."""
    tx.delete(f"card:{member_id}", MemberCardModel(member_id))


def changed_on(day: date) -> Iterator[str]:
    """Member ids whose card changed on `day` (every shard of the sparse index)."""
    for shard in range(SHARDS):
        for item in MemberCardModel.by_changed_day.query(f"{day.isoformat()}#{shard}"):
            yield item.member_id


def save_form(card_id: str, form: dict[str, Any], at: str) -> None:
    """The activation form last set through WeChat (its audit entry commits with it)."""
    tx = UnitOfWork(get_settings().region)
    item = MemberCardModel(f"{FORM_PREFIX}{card_id}", card_id=card_id, form=form, outcome_at=at)
    tx.put("form", item)
    tx.commit()


def _commit(tx: UnitOfWork) -> None:
    try:
        tx.commit()
    except TransactionFailed as failure:
        if failure.refused or failure.retryable:
            raise CardMoved(str(failure)) from failure
        raise


def _guard(state: CardState | None) -> Any:
    if state is None:
        return MemberCardModel.member_id.does_not_exist()
    return MemberCardModel.version == state.version


def _changed(member_id: str, day: date) -> list[Any]:
    return [
        MemberCardModel.changed_on.set(day.isoformat()),
        MemberCardModel.changed_shard.set(changed_shard(day, member_id)),
    ]


def _model(state: CardState, pushed: CardView | None, day: date) -> MemberCardModel:
    item = MemberCardModel(
        state.member_id,
        code=state.code,
        card_id=state.card_id,
        status=str(state.status),
        version=state.version,
        linked_at=state.linked_at,
        changed_on=day.isoformat(),
        changed_shard=changed_shard(day, state.member_id),
    )
    if pushed is not None:
        item.pushed_bonus, item.pushed_balance, item.pushed_level = pushed.bonus, pushed.balance, pushed.level
    return item


def _state(item: MemberCardModel) -> CardState:
    pushed = None
    if item.pushed_bonus is not None:
        pushed = CardView(int(item.pushed_bonus), int(item.pushed_balance or 0), item.pushed_level or "")
    return CardState(
        member_id=item.member_id,
        code=item.code or "",
        card_id=item.card_id or "",
        status=CardStatus(item.status or CardStatus.UNLINKED),
        version=int(item.version or 0),
        pushed=pushed,
        pushed_at=item.pushed_at,
        outcome=SyncOutcome(item.outcome) if item.outcome else None,
        outcome_at=item.outcome_at,
        error=item.error,
        changed_on=item.changed_on,
        linked_at=item.linked_at,
    )
