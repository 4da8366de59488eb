"""The WeChat member card (会员卡) kept a projection of our ledger: link, activation, sync.

Triggering is in one place, store/member_card_repo.py `stage_sync`: every points change
(points_repo.add_change: earn, redeem, reversal, adjustment, expiry, grants, gifts, check-ins,
mall, checkout — everything but a merge step, see `merged`) and every wallet change
(wallet_repo.stage_change: top-up, spend, return, refund) of a member holding a card stages a
`task.card_sync` in its own transaction. A tier change rides in its points change. The worker
runs `sync_task`, which reads the truth *now* (points, wallet total, tier name), compares it with
what was pushed last and, if different, pushes the absolute values and the deltas (domain/
member_card.py), then records them under the version it read:

- a redelivered task, or a second task for a change already pushed: nothing differs, no call;
- a retry after WeChat accepted but before we recorded: the same absolute values again;
- two syncs racing: the one whose record loses pushes again from a fresh read, after the
  winner recorded, so the last push the card sees is always made from the latest truth.

Activation (激活) is the first sync of a card just linked: our member number (会员码) and the
opening values. WeChat errors: busy/unreachable → RetryLater (SQS redelivers), refused for good
→ PermanentFailure (dead-lettered); both are recorded on the card for operators.
"""

from __future__ import annotations

from datetime import date, datetime

from chalicelib.clock import iso, local_date, utc_now
from chalicelib.domain.errors import Busy, MemberNotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.member_card import CardState, CardStatus, CardUpdate, CardView, SyncOutcome, plan_update
from chalicelib.domain.members import Member
from chalicelib.domain.tasks import PermanentFailure, RetryLater
from chalicelib.observability import logger
from chalicelib.retry import backoff
from chalicelib.services.tiers import tier_name
from chalicelib.settings import get_settings
from chalicelib.store import member_card_repo as repo
from chalicelib.store import members_repo, outbox_repo, wallet_repo
from chalicelib.store.member_card_repo import SYNC_TASK, CardMoved
from chalicelib.texts import text
from chalicelib.wechat.member_card import CardApi, CardRejected, CardTransient, get_card_api

ATTEMPTS = 6


def linked(member_id: str, code: str, card_id: str | None, cause_id: str, now: datetime) -> None:
    """user_get_card / submit_membercard_user_info: the card recorded LINKED and its activation
    queued, in one transaction; a replayed callback (same card, still held) changes nothing."""
    for attempt in range(ATTEMPTS):
        state = repo.get(member_id)
        if state is not None and state.code == code and state.status.synced:
            return
        version = state.version + 1 if state else 1
        card = card_id or (state.card_id if state else "") or get_settings().member_card_id
        new = CardState(member_id, code, card, CardStatus.LINKED, version=version, linked_at=iso(now))
        event = DomainEvent(
            f"card-sync:{member_id}:link:{cause_id}", SYNC_TASK, member_id, iso(now), {"cause": cause_id}
        )
        try:
            repo.link(state, new, _today(now), event)
            return
        except CardMoved:
            backoff(attempt)
    raise Busy(f"card of {member_id} kept changing")


def unlinked(member_id: str, code: str, now: datetime) -> None:
    """user_del_card: this card is no longer synced (a newer card the member took since is)."""
    repo.unlink(member_id, code, iso(now), _today(now))


def merged(merged_id: str, survivor_id: str, now: datetime) -> None:
    """The merge's hook (services/identity.py, next to coupon_moves.merged): a merge step is not
    triggered in its own transaction (domain/ledger.py packs it to the item limit), so the merged
    member's card is synced afterwards; the sync moves it onto the survivor. Never fails the merge."""
    try:
        if repo.holds_card(merged_id):
            event_id = f"card-sync:{merged_id}:merge:{survivor_id}"
            outbox_repo.write([DomainEvent(event_id, SYNC_TASK, merged_id, iso(now), {"survivor_id": survivor_id})])
    except Exception as error:  # noqa: BLE001 - the merge stands; the nightly job or a re-sync fixes the card
        logger.warning(
            "card sync after merge not queued", extra={"member_id": merged_id, "error": type(error).__name__}
        )


def sync_task(event: DomainEvent) -> None:
    """Consumer task `task.card_sync` (notify/consumer.py TASKS)."""
    if not event.member_id:
        raise PermanentFailure("card sync without a member")
    try:
        sync(event.member_id, utc_now())
    except CardTransient as error:
        raise RetryLater(str(error)) from error
    except (CardRejected, MemberNotFound) as error:
        raise PermanentFailure(f"card sync refused: {error}") from error


def sync(member_id: str, now: datetime, *, force: bool = False) -> SyncOutcome | None:
    """Bring the member's card to the truth; None when the member holds no synced card."""
    api = get_card_api()
    for attempt in range(ATTEMPTS):
        state = repo.get(member_id)
        if state is None or not state.status.synced:
            return None
        live = members_repo.get_live_member(member_id)
        if live.member_id != member_id:
            return _follow_merge(state, live.member_id, now)
        truth = truth_of(live)
        outcome = _push_recorded(api, state, truth, live, now, force=force)
        if outcome is not None:
            return outcome
        force = True  # our record lost a race: the card may show an older push than the winner's
        backoff(attempt)
    raise Busy(f"card of {member_id} kept changing")


def truth_of(member: Member) -> CardView:
    """What the card must show: spendable points (never below zero on the card: debt from a
    reversal shows as 0), the wallet's principal + bonus in fen, the tier's name."""
    wallet = wallet_repo.get_wallet(member.member_id).balances.total
    return CardView(max(member.balance, 0), wallet, tier_name(member.tier_code))


def _push_recorded(
    api: CardApi, state: CardState, truth: CardView, member: Member, now: datetime, *, force: bool
) -> SyncOutcome | None:
    """One push and its record; None when the record lost a race (the caller reads again)."""
    at = iso(now)
    try:
        outcome = _push(api, state, truth, member, now, force=force)
    except CardTransient as error:
        repo.record_failure(state.member_id, SyncOutcome.RETRYING, str(error), at)
        raise
    except CardRejected as error:
        repo.record_failure(state.member_id, SyncOutcome.REJECTED, str(error), at)
        raise
    if outcome == SyncOutcome.UNCHANGED:
        return outcome
    try:
        repo.record(state, status=CardStatus.ACTIVE, pushed=truth, outcome=outcome, at=at, day=_today(now))
    except CardMoved:
        return None
    return outcome


def _push(
    api: CardApi, state: CardState, truth: CardView, member: Member, now: datetime, *, force: bool
) -> SyncOutcome:
    if state.status == CardStatus.LINKED:
        return _activate(api, state, truth, member, now)
    update = plan_update(state.pushed, truth, force=force)
    if update is None:
        return SyncOutcome.UNCHANGED
    api.update_user(state.card_id, state.code, update, records(update))
    return SyncOutcome.PUSHED


def _activate(api: CardApi, state: CardState, truth: CardView, member: Member, now: datetime) -> SyncOutcome:
    """Our member number and the opening values. WeChat may refuse a second activation (ours
    went through, its record did not): a card that reads back fine then gets the values pushed."""
    from chalicelib.services.member_codes import code_of

    number = member.member_code or code_of(member.member_id, now)
    try:
        api.activate(state.card_id, state.code, number, truth)
    except CardRejected:
        api.get_user(state.card_id, state.code)  # refuses too for an unknown or deleted card
        api.update_user(state.card_id, state.code, CardUpdate(truth, 0, 0), {})  # values, no change message
    return SyncOutcome.ACTIVATED


def records(update: CardUpdate) -> dict[str, str]:
    """The change texts the member reads in WeChat (from the messages file), for non-zero deltas."""
    found: dict[str, str] = {}
    if update.add_bonus:
        key = "card_record_bonus_add" if update.add_bonus > 0 else "card_record_bonus_sub"
        found["record_bonus"] = text(key, points=abs(update.add_bonus))
    if update.add_balance:
        key = "card_record_balance_add" if update.add_balance > 0 else "card_record_balance_sub"
        fen = abs(update.add_balance)
        found["record_balance"] = text(key, yuan=f"{fen // 100}.{fen % 100:02d}")
    return found


def _follow_merge(state: CardState, survivor_id: str, now: datetime) -> SyncOutcome | None:
    """A merged member's card: onto the survivor when it holds none (then synced there), else
    superseded by the survivor's own card (it keeps its last values; the alias still reaches
    the survivor at the till)."""
    other = repo.get(survivor_id)
    try:
        if other is None or not other.status.synced:
            repo.move(state, other, survivor_id, iso(now), _today(now))
            return sync(survivor_id, now, force=True)
        repo.supersede(state, iso(now), _today(now))
    except CardMoved:
        return sync(state.member_id, now)
    return SyncOutcome.UNCHANGED


def _today(now: datetime) -> date:
    return local_date(now, get_settings().timezone)
