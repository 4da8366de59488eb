"""Check-in routes (签到): the member checks in, makes up a missed day (补签), reads the calendar."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import MEMBER
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now

if TYPE_CHECKING:
    from chalicelib.api import schemas_checkins as s
    from chalicelib.domain.checkins import Outlook
    from chalicelib.domain.programme import CheckinMilestone, CheckinRules
    from chalicelib.services.checkins import CheckinResult
else:
    s = lazy_module("chalicelib.api.schemas_checkins")

bp = Blueprint(__name__)


@route(
    bp,
    "/v1/me/checkins",
    "POST",
    auth_kind=MEMBER,
    tag="member",
    summary="Check in today (no body, or `{}`), or make up a past day (`date`); an Idempotency-Key replays a lost answer",
    body="CheckinIn",
    body_optional=True,
    response="CheckinOut",
    status=201,
    idempotency_key="optional",
    errors=(400, 401, 403, 404, 409, 503),
)
def check_in(call: Call) -> s.CheckinOut:
    from chalicelib.services import checkins

    body: s.CheckinIn = call.body
    result = checkins.check_in(call.caller, body.date, utc_now(), call.idempotency_key)
    return _checkin_out(result)


@route(
    bp,
    "/v1/me/checkins",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    summary="My check-in calendar for a month: days checked and made up, streak, count, next milestone",
    query="CheckinQuery",
    response="CheckinCalendarOut",
    errors=(400, 401, 404),
)
def calendar(call: Call) -> s.CheckinCalendarOut:
    from chalicelib.services import checkins

    month = call.query.month
    first = date(int(month[:4]), int(month[5:]), 1) if month else None
    found = checkins.calendar(call.caller, first, utc_now())
    days = [
        s.CheckinDayOut(date=d.day, made_up=d.made_up, points=d.earned, milestone=bool(d.milestones))
        for d in found.days
    ]
    return s.CheckinCalendarOut(
        month=found.month.strftime("%Y-%m"),
        enabled=found.rules.enabled,
        days=days,
        status=_status(found.outlook, found.rules),
    )


def _checkin_out(result: CheckinResult) -> s.CheckinOut:
    return s.CheckinOut(
        date=result.day,
        made_up=result.made_up,
        points=result.earned,
        cost_points=result.cost,
        balance=result.balance,
        milestones=[_milestone(m) for m in result.reached],
        status=_status(result.outlook, result.rules),
    )


def _milestone(milestone: CheckinMilestone) -> s.CheckinMilestoneOut:
    return s.CheckinMilestoneOut(kind=milestone.kind, day=milestone.day, points=milestone.points)


def _status(outlook: Outlook, rules: CheckinRules) -> s.CheckinStatusOut:
    upcoming = outlook.next_milestone
    next_milestone = (
        s.NextMilestoneOut(
            kind=upcoming.milestone.kind,
            day=upcoming.milestone.day,
            points=upcoming.milestone.points,
            checkins_to_go=upcoming.checkins_to_go,
            on=upcoming.on,
        )
        if upcoming
        else None
    )
    makeup = (
        s.MakeupOut(
            cost_points=rules.makeup_cost_points, days_back=rules.makeup_days, open_days=list(outlook.makeup_days)
        )
        if rules.enabled and rules.makeup_cost_points is not None
        else None
    )
    return s.CheckinStatusOut(
        today=outlook.today,
        checked_in_today=outlook.checked_today,
        streak=outlook.streak,
        cumulative=outlook.count,
        total=outlook.total,
        reset=rules.reset,
        next_reward_points=outlook.next_reward if rules.enabled else 0,
        next_milestone=next_milestone if rules.enabled else None,
        makeup=makeup,
    )
