"""Action rules (行为积分): points for what a member did, reported by the brand's server
(signed like POS): registration, complete_profile, first_purchase, product_review, share.

The rules are the programme's (`earning.actions`), taken at entry. Caps count per member per
Shanghai day, ISO week (Monday start) and calendar month of the action's `at`; registration,
complete_profile and first_purchase are rewarded once per member ever; a budget bounds the
points of one action over all members. Every cap and the budget is a limit counter moved in
the same transaction as the points (`PointsChange.counter_adds`), so concurrent reports
cannot overshoot: a counter moved meanwhile fails the commit and the points engine plans
again, reading the counters afresh. Idempotent on the reporting client's `action_id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from chalicelib.clock import local_date
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.errors import AlreadySet, InvalidInput
from chalicelib.domain.ledger import CounterAdd, EntryNote, PointsChange
from chalicelib.domain.members import Member
from chalicelib.services import orders, points, programme
from chalicelib.settings import get_settings
from chalicelib.store import counters_repo

if TYPE_CHECKING:
    from chalicelib.domain.programme import ActionRule

ONCE_ONLY = frozenset({"registration", "complete_profile", "first_purchase"})
FOREVER = timedelta(days=365 * 100)  # a once-only or budget counter's window: the programme's life


class ActionCapReached(AlreadySet):
    """The member reached the action's cap for the day, week or month (or its only time)."""

    code = "action_cap_reached"


class ActionAlreadyRewarded(AlreadySet):
    code = "action_already_rewarded"


class ActionBudgetExhausted(AlreadySet):
    code = "action_budget_exhausted"


@dataclass(frozen=True)
class ActionResult:
    action_id: str
    member_id: str
    points: int
    balance: int


@dataclass(frozen=True)
class _Limit:
    counter_id: str
    amount: int
    limit: int
    until: datetime
    error: type[AlreadySet]
    detail: str


def record_action(
    action_id: str, ref: orders.MemberRef, action: str, at: datetime, now: datetime, *, pos_client: str
) -> ActionResult:
    """A replay answers with the recorded result, whatever the rules or the clock say by then."""
    request: dict[str, Any] = {
        "pos_client": pos_client,
        "action_id": action_id,
        "member": ref.__dict__,
        "action": action,
        "at": at.isoformat(),
    }
    op = points.operation(keys.key("action", pos_client, action_id), request, now, key_field="action_id")
    existing = points.replay(op)
    if existing is not None:
        return ActionResult(action_id, existing.member_id, existing.delta, existing.balance_after)
    rule = next((r for r in programme.current().earning.actions if r.action == action), None)
    if rule is None:
        raise InvalidInput("the programme has no rule for this action", field="action")
    day = _action_day(at, now)
    member_id = orders.resolve_member(ref)
    note = EntryNote(
        reason=action,
        detail={"action": action, "action_id": action_id, "at": at.isoformat(), "pos_client": pos_client},
    )
    entry = points.earn(member_id, rule.points, op, kind=kinds.ACTION, decorate=_within_caps(rule, day, now), note=note)
    return ActionResult(action_id, entry.member_id, entry.delta, entry.balance_after)


def _action_day(at: datetime, now: datetime) -> date:
    """Bounded like an order's paid_at (services/orders.py): not ahead of our clock by more than
    the skew, not older than the backdating window; a little ahead counts as today."""
    settings = get_settings()
    if at > now + timedelta(seconds=settings.order_max_future_seconds):
        raise InvalidInput("at is in the future", field="at")
    if at < now - timedelta(days=settings.order_backdate_days):
        raise InvalidInput(f"at is more than {settings.order_backdate_days} days ago", field="at")
    return min(local_date(at, settings.timezone), local_date(now, settings.timezone))


def _within_caps(rule: ActionRule, day: date, now: datetime) -> points.Decorator:
    """On every attempt: reads the counters, refuses at a cap, else moves them with the points."""
    at = now.timestamp()

    def decorate(member: Member, change: PointsChange) -> PointsChange:
        adds = []
        for limit in limits(rule, member.member_id, day, now):
            count = counters_repo.read(limit.counter_id, at)
            read_total = count.total if count else 0
            if read_total + limit.amount > limit.limit:
                raise limit.error(limit.detail, field="action")
            adds.append(CounterAdd(limit.counter_id, limit.amount, read_total, limit.until.timestamp(), at))
        change.counter_adds = (*change.counter_adds, *adds)
        entry = change.entry  # "积分已到账", as an order's points are announced
        data = {"points": entry.delta, "balance": entry.balance_after, "action": rule.action}
        change.events = (*change.events, points.entry_event(entry, "points.earned", data))
        return change

    return decorate


def limits(rule: ActionRule, member_id: str, day: date, now: datetime) -> list[_Limit]:
    """The counters an action moves. A period's counter is named by its period (the action's
    day, week, month); it stays live until actions can no longer be dated in that period."""
    settings = get_settings()
    zone = ZoneInfo(settings.timezone)
    grace = timedelta(days=settings.order_backdate_days + 1)
    name = rule.action
    found: list[_Limit] = []
    if name in ONCE_ONLY:
        found.append(
            _Limit(
                keys.key("action-once", name, member_id), 1, 1, now + FOREVER, ActionAlreadyRewarded, "once per member"
            )
        )
    monday = day - timedelta(days=day.weekday())
    first = day.replace(day=1)
    periods = (
        (rule.per_day, "action-day", day.isoformat(), day + timedelta(days=1), "per day"),
        (rule.per_week, "action-week", monday.isoformat(), monday + timedelta(days=7), "per week"),
        (rule.per_month, "action-month", first.strftime("%Y-%m"), _next_month(first), "per month"),
    )
    for cap, kind, period, ends, label in periods:
        if cap is not None:
            until = datetime.combine(ends, time(), zone) + grace
            counter_id = keys.key(kind, name, member_id, period)
            found.append(_Limit(counter_id, 1, cap, until, ActionCapReached, f"at most {cap} {label}"))
    if rule.budget_points is not None:
        budget = rule.budget_points
        found.append(
            _Limit(
                keys.key("action-budget", name),
                rule.points,
                budget,
                now + FOREVER,
                ActionBudgetExhausted,
                "budget spent",
            )
        )
    return found


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)
