"""The member card's operations beyond the sync: the nightly check of a card against ours, and
what operators do (the activation form, a forced re-sync, a card's record).

Both reads of WeChat go through the same port (wechat/member_card.py `CardApi`), so the nightly
check works the same whichever provider carries the card.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain.errors import InvalidInput, MemberNotFound, NotFound, WeChatUnavailable
from chalicelib.domain.member_card import CardState, CardStatus, drifted
from chalicelib.services import member_card
from chalicelib.settings import get_settings
from chalicelib.store import audit_repo, members_repo
from chalicelib.store import member_card_repo as repo
from chalicelib.wechat.member_card import CardRejected, CardTransient, get_card_api


def reconcile(member_id: str, now: datetime) -> str | None:
    """matched / corrected for an active card; None for one we no longer sync (or not activated
    yet: its activation task is under way). WeChat errors raise (the job counts them failed)."""
    state = repo.get(member_id)
    if state is None or state.status != CardStatus.ACTIVE:
        return None
    live = members_repo.get_live_member(member_id)
    if live.member_id != member_id:
        member_card.sync(member_id, now)  # the card follows the merge
        return "corrected"
    card = get_card_api().get_user(state.card_id, state.code)
    if not drifted(card, member_card.truth_of(live)):
        return "matched"
    member_card.sync(member_id, now, force=True)
    return "corrected"


def card_of(member_id: str) -> CardState:
    """The member's card record (404 for an unknown member, or one who never took a card)."""
    if members_repo.find_member(member_id) is None:
        raise MemberNotFound(f"no member {member_id}", field="member_id")
    state = repo.get(member_id)
    if state is None:
        raise NotFound(f"member {member_id} holds no member card", field="member_id")
    return state


def force_sync(member_id: str, now: datetime) -> CardState:
    """An operator's re-sync: the truth pushed again even if it matches what we recorded (a card
    edited on WeChat's side). WeChat busy → 503; refused for good → the record says why."""
    state = card_of(member_id)
    if not state.status.synced:
        raise InvalidInput(f"the card is {state.status}: nothing to sync", field="member_id")
    audit_repo.describe(target=f"member:{member_id}", before=_summary(state))
    try:
        member_card.sync(member_id, now, force=True)
    except CardTransient as error:
        raise WeChatUnavailable(str(error)) from error
    except CardRejected:
        pass  # recorded on the card (outcome rejected, error): shown in the answer
    return card_of(member_id)


def set_activate_form(form: dict[str, Any], card_id: str | None, now: datetime) -> str:
    """开卡字段: the form WeChat shows when a member activates the card, set through WeChat then
    recorded (the audit entry commits with the record). Setting it again is harmless: it is
    absolute. Returns the card_id it was set for."""
    target = card_id or get_settings().member_card_id
    if not target:
        raise InvalidInput("no card_id given and MEMBER_CARD_ID is not configured", field="card_id")
    try:
        get_card_api().set_activate_form(target, form)
    except CardTransient as error:
        raise WeChatUnavailable(str(error)) from error
    except CardRejected as error:
        raise InvalidInput(f"WeChat refused the form: {error}", field="card_id") from error
    audit_repo.describe(target=f"card:{target}", after={"fields": sorted(form)})
    repo.save_form(target, form, iso(now))
    return target


def _summary(state: CardState) -> dict[str, Any]:
    pushed = state.pushed
    return {"status": str(state.status), "bonus": pushed.bonus if pushed else None, "version": state.version}
