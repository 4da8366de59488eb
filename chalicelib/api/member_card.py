"""The member card's admin routes (会员卡): the activation form, a member's card record, and a
forced re-sync. Syncs themselves run in the worker (services/member_card.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from chalice.app import Blueprint

from chalicelib.api.auth import OPERATOR
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now

if TYPE_CHECKING:
    from chalicelib.api import schemas_member_card as s
    from chalicelib.domain.member_card import CardState
else:
    s = lazy_module("chalicelib.api.schemas_member_card")

bp = Blueprint(__name__)
CARD = "/admin/members/{member_id}/card"


@route(
    bp,
    "/admin/member-card/activate-form",
    "PUT",
    auth_kind=OPERATOR,
    permission="cards.write",
    tag="admin",
    body="ActivateFormIn",
    response="ActivateFormOut",
    summary="Set the card's activation form (开卡字段) through WeChat; setting it again is harmless",
    errors=(400, 401, 503),
)
def set_activate_form(call: Call) -> s.ActivateFormOut:
    from chalicelib.services import member_card_ops

    form = call.body.model_dump(exclude_none=True, exclude={"card_id"})
    card_id = member_card_ops.set_activate_form(form, call.body.card_id, utc_now())
    return s.ActivateFormOut(card_id=card_id, fields=sorted(form))


@route(
    bp,
    CARD,
    "GET",
    auth_kind=OPERATOR,
    permission="cards.read",
    tag="admin",
    response="MemberCardOut",
    summary="A member's WeChat card: what we pushed last, when, and how the last sync ended",
    errors=(401, 404, 503),
)
def show_card(call: Call) -> s.MemberCardOut:
    from chalicelib.services import member_card_ops

    return card_out(member_card_ops.card_of(call.path["member_id"]))


@route(
    bp,
    f"{CARD}/sync",
    "POST",
    auth_kind=OPERATOR,
    permission="cards.write",
    tag="admin",
    response="MemberCardOut",
    summary="Push the member's points, stored value and tier to the card again, now",
    errors=(400, 401, 404, 503),
)
def sync_card(call: Call) -> s.MemberCardOut:
    from chalicelib.services import member_card_ops

    return card_out(member_card_ops.force_sync(call.path["member_id"], utc_now()))


def card_out(state: CardState) -> s.MemberCardOut:
    pushed = state.pushed
    values = s.CardValuesOut(bonus=pushed.bonus, balance_fen=pushed.balance, level=pushed.level) if pushed else None
    return s.MemberCardOut(
        member_id=state.member_id,
        code=state.code,
        card_id=state.card_id,
        status=cast("s.CardStatusOut", str(state.status)),
        version=state.version,
        pushed=values,
        pushed_at=state.pushed_at,
        outcome=cast("s.OutcomeOut", str(state.outcome)) if state.outcome else None,
        outcome_at=state.outcome_at,
        error=state.error,
        linked_at=state.linked_at,
    )
