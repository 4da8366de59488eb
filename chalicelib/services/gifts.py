"""Points gift (积分转赠) use case: a member gives points to another member, named by member
code, once per Idempotency-Key.

One transaction (`points.apply_pair`): the giver's gift_out entry takes their lots, earliest
expiry first; the recipient's gift_in entry adds lots of the same dates (after repaying any
debt); the giver's counter of the day moves by the points, guarded by what the plan read,
so racing gifts cannot pass the daily limit. Both entries name the other side by member
code and masked nickname, the gift id and the lots moved. The programme is taken at entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib import texts
from chalicelib.domain import gifts, keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.errors import InvalidInput, MemberNotFound
from chalicelib.domain.gifts import GiftPlan, MovedLot
from chalicelib.domain.ledger import CounterAdd, EntryNote, LedgerEntry, PointsChange
from chalicelib.domain.members import Member
from chalicelib.domain.points import PointsLot
from chalicelib.services import member_codes, points, programme
from chalicelib.settings import get_settings
from chalicelib.store import counters_repo, members_repo


@dataclass(frozen=True)
class GiftResult:
    gift_id: str
    points: int
    balance: int
    to_code: str
    to_nickname: str | None  # masked
    lots: tuple[MovedLot, ...]


def give(
    giver_id: str, to_code: str, amount: int, message: str | None, idempotency_key: str, now: datetime
) -> GiftResult:
    """A replay (same key, same request) answers with the recorded gift whatever happened
    since: the rules changed, the points were spent, the day's limit was reached."""
    code = member_codes.normalise(to_code, field="to_code")
    request: dict[str, Any] = {"to_code": code, "points": amount, "message": message}
    op = points.operation(keys.key("gift", giver_id, idempotency_key), request, now)
    existing = points.replay(op)
    if existing is not None:
        return result_of(existing)
    rules = programme.current().gift
    gifts.check_request(rules, amount)
    giver = members_repo.get_live_member(giver_id)
    recipient_id = _recipient(code, giver.member_id)
    giver_code = member_codes.code_of(giver.member_id, now)
    plan = _planner(op, code, giver_code, amount, message, rules.daily_limit_points)
    entry = points.apply_pair(giver.member_id, recipient_id, op, plan, reads_lots=True, peer_reads_lots=False)
    return result_of(entry)


def _recipient(code: str, giver_id: str) -> str:
    """The live member the code names; not the giver (nor a member merged into the giver)."""
    try:
        recipient_id = member_codes.member_of(code, field="to_code")
    except MemberNotFound as error:  # unknown, or its account is closed (注销)
        raise MemberNotFound("no member has this code", field="to_code") from error
    if recipient_id == giver_id:
        raise InvalidInput("a gift goes to another member", field="to_code", code="gift_to_self")
    return recipient_id


def _planner(
    op: points.Operation, to_code: str, giver_code: str, amount: int, message: str | None, daily_limit: int
) -> points.PairPlanner:
    settings = get_settings()
    tomorrow = datetime.combine(op.today + timedelta(days=1), time(), ZoneInfo(settings.timezone))
    at = op.now.timestamp()
    gift_id = gifts.gift_id(op.entry_id)

    def plan(
        giver: Member, lots: list[PointsLot], recipient: Member, _lots: list[PointsLot]
    ) -> tuple[PointsChange, PointsChange]:
        planned = gifts.plan_gift(lots, giver.balance, amount, op.today, recipient.debt)
        day_counter = keys.key("gift-day", giver.member_id, op.today.isoformat())
        count = counters_repo.read(day_counter, at)
        given_today = count.total if count else 0
        gifts.check_daily_limit(given_today, amount, daily_limit)
        shared = {"gift_id": gift_id, "lots": gifts.lots_detail(planned.moved)}
        if message:
            shared["message"] = message
        out = _gift_out(op, giver, planned, {**shared, "to": _party(to_code, recipient)})
        out.counter_adds = (CounterAdd(day_counter, amount, given_today, tomorrow.timestamp(), at),)
        received = _gift_in(op, recipient, planned, {**shared, "from": _party(giver_code, giver)})
        return out, received

    return plan


def _party(code: str, member: Member) -> dict[str, Any]:
    return {"code": code, "nickname": gifts.mask_nickname(member.nickname)}


def _gift_out(op: points.Operation, giver: Member, planned: GiftPlan, detail: dict[str, Any]) -> PointsChange:
    amount = sum(lot.points for lot in planned.moved)
    note = EntryNote(reason=gifts.REASON, detail=detail)
    change = points.change(op, giver, kinds.GIFT_OUT, -amount, lot_takes=list(planned.takes), note=note)
    data = {"points": amount, "balance": change.entry.balance_after, "gift_id": detail["gift_id"]}
    change.events = (points.entry_event(change.entry, "points.gifted", {**data, "to_code": detail["to"]["code"]}),)
    return change


def _gift_in(op: points.Operation, recipient: Member, planned: GiftPlan, detail: dict[str, Any]) -> PointsChange:
    """The recipient's entry id is derived from the gift's (it exists exactly when the giver's does)."""
    amount = sum(lot.points for lot in planned.moved)
    peer_op = points.operation(keys.key("gift-in", detail["gift_id"]), op.request, op.now)
    note = EntryNote(reason=gifts.REASON, detail={**detail, "debt_repaid": planned.repaid})
    change = points.change(
        peer_op,
        recipient,
        kinds.GIFT_IN,
        amount,
        new_debt=recipient.debt - planned.repaid,
        lot_adds=planned.adds,
        note=note,
    )
    data = {"points": amount, "balance": change.entry.balance_after, "gift_id": detail["gift_id"]}
    change.events = (
        points.entry_event(change.entry, "points.received", {**data, "from_code": detail["from"]["code"]}),
    )
    return change


def result_of(entry: LedgerEntry) -> GiftResult:
    """A gift as its giver's entry records it (a replay answers with the same)."""
    detail = entry.detail
    to = detail.get("to") or {}
    return GiftResult(
        gift_id=str(detail.get("gift_id")),
        points=-entry.delta,
        balance=entry.balance_after,
        to_code=str(to.get("code")),
        to_nickname=to.get("nickname"),
        lots=gifts.lots_from_detail(detail.get("lots")),
    )


def explanation(entry: LedgerEntry) -> str | None:
    """A ledger line's words for a gift (转赠给 / 来自 the other member), for the member ledger."""
    if entry.kind not in (kinds.GIFT_OUT, kinds.GIFT_IN):
        return None
    out = entry.kind == kinds.GIFT_OUT
    party = entry.detail.get("to" if out else "from") or {}
    nickname = party.get("nickname")
    who = f"{party.get('code')}" + (f"（{nickname}）" if nickname else " ")
    words = texts.text("ledger_gift_out" if out else "ledger_gift_in", who=who).strip()
    repaid = int(entry.detail.get("debt_repaid") or 0)
    return words + texts.text("ledger_debt_repaid", points=repaid) if repaid else words
