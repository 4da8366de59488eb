"""Request and response models of the check-in routes (签到, 补签)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from chalicelib.api.schemas import Strict

MONTH_PATTERN = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"


class CheckinIn(Strict):
    """`{}` checks in today; a past `date` is a make-up (补签), when the programme offers them."""

    date: dt.date | None = Field(default=None, description="YYYY-MM-DD: a past day to make up; absent: today")


class CheckinQuery(Strict):
    month: str | None = Field(default=None, pattern=MONTH_PATTERN, description="YYYY-MM; absent: this month")


class CheckinMilestoneOut(Strict):
    kind: Literal["streak", "cumulative"] = Field(description="streak: 连续签到; cumulative: 累计签到 in the period")
    day: int
    points: int = Field(description="paid instead of the base points on the check-in that reaches it")


class NextMilestoneOut(CheckinMilestoneOut):
    checkins_to_go: int = Field(description="check-ins to reach it, the next one included")
    on: dt.date = Field(description="the day it is reached, checking in every day from the next check-in")


class MakeupOut(Strict):
    cost_points: int = Field(description="what a make-up (补签) costs")
    days_back: int = Field(description="how far back a make-up may go")
    open_days: list[dt.date] = Field(description="past days a make-up may still check in")


class CheckinStatusOut(Strict):
    today: dt.date = Field(description="the brand's calendar day (Asia/Shanghai)")
    checked_in_today: bool
    streak: int = Field(description="连续签到: today's, or the one today's check-in continues")
    cumulative: int = Field(description="累计签到: days checked in the current period (all time if it never resets)")
    total: int = Field(description="days ever checked in")
    reset: Literal["never", "weekly", "monthly"] = Field(description="weekly periods start on Monday")
    next_reward_points: int = Field(description="what the next check-in pays (today's, or tomorrow's)")
    next_milestone: NextMilestoneOut | None
    makeup: MakeupOut | None = Field(description="null: the programme offers no make-up")


class CheckinOut(Strict):
    date: dt.date
    made_up: bool
    points: int = Field(description="what the check-in paid: the base points, or the milestones reached")
    cost_points: int = Field(description="a make-up's price, taken in the same transaction; 0 otherwise")
    balance: int
    milestones: list[CheckinMilestoneOut]
    status: CheckinStatusOut


class CheckinDayOut(Strict):
    date: dt.date
    made_up: bool
    points: int
    milestone: bool = Field(description="the check-in reached a milestone")


class CheckinCalendarOut(Strict):
    month: str
    enabled: bool = Field(description="false: the programme offers no check-in now")
    days: list[CheckinDayOut] = Field(description="the days checked in that month, in order")
    status: CheckinStatusOut
