"""Daily check-in (签到) and make-up (补签): the member's calendar, and the check-in committed
with its points in one transaction.

A check-in reads the member's summary, plans the day with the pure rules (domain/checkins.py)
under the programme in force, and commits through the points engine: the ledger entry
(`checkin:<member>:<day>`, one per day), the balance and lots, the day item and the new summary
all in one TransactWriteItems, the last two joining the points change (`PointsChange.joins`).
A make-up's price is taken in the same entry (its pay less its price: an earning, or a
redemption that consumes lots first-expiring-first when the price is the larger).

Twice the same day is a 409. A client retrying a request it lost the answer to may send an
Idempotency-Key: the same key on the same day answers the first check-in again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from itertools import count
from typing import Any

from chalicelib.clock import iso, local_date
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.checkins import CheckinDay, CheckinPlan, CheckinState, Outlook, already_checked, outlook
from chalicelib.domain.checkins import plan_checkin as plan_day
from chalicelib.domain.errors import Busy, DomainError, IdempotencyConflict, InsufficientPoints
from chalicelib.domain.ledger import EntryNote, LedgerEntry, PointsChange
from chalicelib.domain.members import Member
from chalicelib.domain.programme import CheckinMilestone, CheckinRules
from chalicelib.retry import backoff
from chalicelib.services import points, programme
from chalicelib.settings import get_settings
from chalicelib.store import checkins_repo, members_repo


class _StateMoved(DomainError):
    """Another check-in of the member committed since the plan: plan the day again."""


@dataclass(frozen=True)
class CheckinResult:
    day: date
    made_up: bool
    earned: int
    cost: int
    reached: tuple[CheckinMilestone, ...]
    balance: int
    outlook: Outlook
    rules: CheckinRules


@dataclass(frozen=True)
class Calendar:
    month: date  # its first day
    days: list[CheckinDay]
    outlook: Outlook
    rules: CheckinRules


def check_in(member_id: str, day: date | None, now: datetime, request_key: str | None = None) -> CheckinResult:
    """Today's check-in, or a make-up of `day`. `request_key`: the client's Idempotency-Key."""
    rules = programme.current().checkin
    today = local_date(now, get_settings().timezone)
    member = members_repo.get_live_member(member_id)
    live, wanted = member.member_id, day or today
    request = {"member_id": live, "day": wanted.isoformat(), "request": request_key or uuid.uuid4().hex}
    op = points.operation(keys.key("checkin", live, wanted.isoformat()), request, now)
    attempts = get_settings().tx_max_attempts
    for attempt in range(attempts):
        state = checkins_repo.load_state(live)
        if state.checked(wanted):
            return _replayed(op, wanted, today, member, rules)
        plan = plan_day(state, rules, wanted, today, registered_on(member))
        _require_price(member, plan)
        try:
            entry = _commit(live, plan, op)
        except _StateMoved:
            backoff(attempt)
            continue
        except IdempotencyConflict as conflict:  # the day went to a concurrent request
            raise already_checked(wanted, wanted < today) from conflict
        return _result(entry, plan.after, rules, today, member)
    raise Busy(f"check-in of {live} on {wanted} kept meeting concurrent check-ins")


def calendar(member_id: str, month: date | None, now: datetime) -> Calendar:
    """A month of the member's days (this month by default) and where they stand today."""
    rules = programme.current().checkin
    today = local_date(now, get_settings().timezone)
    member = members_repo.get_live_member(member_id)
    first = (month or today).replace(day=1)
    days = checkins_repo.month_days(member.member_id, first)
    state = checkins_repo.load_state(member.member_id)
    return Calendar(first, days, outlook(state, rules, today, registered_on(member)), rules)


def registered_on(member: Member) -> date:
    return local_date(datetime.fromisoformat(member.created_at), get_settings().timezone)


def _require_price(member: Member, plan: CheckinPlan) -> None:
    if plan.cost > member.balance:
        raise InsufficientPoints(
            f"a make-up costs {plan.cost} points, the balance is {member.balance}",
            field="date",
            code="makeup_insufficient_points",
        )


def _commit(member_id: str, plan: CheckinPlan, op: points.Operation) -> LedgerEntry:
    kind = kinds.CHECKIN_MAKEUP if plan.made_up else kinds.CHECKIN
    note = EntryNote(reason=plan.day.isoformat(), detail=_detail(plan))
    decorate = _joining(member_id, plan, op)
    if plan.net >= 0:
        return points.earn(member_id, plan.net, op, kind=kind, decorate=decorate, note=note)
    return points.redeem(member_id, -plan.net, op, kind=kind, decorate=decorate, note=note)


def _joining(member_id: str, plan: CheckinPlan, op: points.Operation) -> points.Decorator:
    """Adds the day and the summary to the points change, on every attempt of the engine. The
    first attempt follows the state just read; a later one (the member moved, or the day was
    taken) reads it again, and a moved state means planning the day afresh."""
    attempts = count()
    at = iso(op.now)

    def stage(tx: Any) -> None:
        checkins_repo.stage(tx, member_id, plan, op.entry_id, at)

    def decorate(member: Member, change: PointsChange) -> PointsChange:
        _require_price(member, plan)
        if next(attempts) and checkins_repo.load_state(member_id).version != plan.before.version:
            raise _StateMoved(f"{member_id} checked in meanwhile")
        change.joins = (stage,)
        return change

    return decorate


def _detail(plan: CheckinPlan) -> dict[str, Any]:
    return {
        "day": plan.day.isoformat(),
        "made_up": plan.made_up,
        "earned": plan.earned,
        "cost": plan.cost,
        "milestones": [{"kind": m.kind, "day": m.day, "points": m.points} for m in plan.reached],
    }


def _replayed(op: points.Operation, day: date, today: date, member: Member, rules: CheckinRules) -> CheckinResult:
    """The day is checked: the first answer again for the same Idempotency-Key, else 409."""
    try:
        entry = points.replay(op)
    except IdempotencyConflict as conflict:
        raise already_checked(day, day < today) from conflict
    if entry is None:
        raise already_checked(day, day < today)
    return _result(entry, checkins_repo.load_state(member.member_id), rules, today, member)


def _result(entry: LedgerEntry, state: CheckinState, rules: CheckinRules, today: date, member: Member) -> CheckinResult:
    detail = entry.detail
    return CheckinResult(
        day=date.fromisoformat(str(detail["day"])),
        made_up=bool(detail["made_up"]),
        earned=int(detail["earned"]),
        cost=int(detail["cost"]),
        reached=tuple(CheckinMilestone.model_validate(m) for m in detail.get("milestones", [])),
        balance=entry.balance_after,
        outlook=outlook(state, rules, today, registered_on(member)),
        rules=rules,
    )
