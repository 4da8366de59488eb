"""Daily check-in (签到) rules: streaks (连续签到), period counts (累计签到), milestones and
make-ups (补签), as pure functions of the days a member checked in.

The rules, as the API documents them:
- A day is the brand's calendar day (Asia/Shanghai). A member checks in once a day. A make-up
  checks in a past day, late, for `makeup_cost_points`: at most `makeup_days` back, never
  before the member registered, never a day already checked.
- The streak of a day is the run of consecutive checked days through it, and the count the
  checked days of its period, both within the reset period (`weekly`: Monday to Sunday,
  `monthly`: the calendar month, `never`: all time). Made-up days count like any other.
- Every check-in, made up or not, pays `base_points`, or instead (not on top) the milestones
  it reaches: a cumulative milestone of day d when it makes the period's count d, a streak
  milestone of day d when the streak it makes grows past d. A check-in on the day makes its
  streak one longer, so it reaches exactly the milestone of that length. A make-up that joins
  two runs reaches the lengths from the longer run's to the joined run's: a milestone the gap
  cost is paid, one either run already reached is not paid again. Several milestones reached
  at once pay their sum.
- A make-up pays what it reaches and costs its price: one ledger entry with the difference.

The member's days are held as runs of consecutive days: the runs of the last `KEEP_DAYS` in
full (a run's start may be long before), older ones only in `total`. That is all any rule
needs: a make-up reaches back at most 31 days, and a period at most a month before that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from chalicelib.domain.errors import AlreadySet, Forbidden, InvalidInput

if TYPE_CHECKING:
    from chalicelib.domain.programme import CheckinMilestone, CheckinRules

KEEP_DAYS = 70
ONE_DAY = timedelta(days=1)


class AlreadyCheckedIn(AlreadySet):
    """今日已签到 (`already_checked_in`), or the day of a make-up was checked already
    (`makeup_day_checked`): one check-in per member and day."""

    code = "already_checked_in"


class CheckinClosed(Forbidden):
    """The programme in force offers no check-in (`checkin_disabled`) or no make-up (`makeup_disabled`)."""

    code = "checkin_disabled"


@dataclass(frozen=True)
class Run:
    """Consecutive checked days, `start` to `end` inclusive."""

    start: date
    end: date


@dataclass(frozen=True)
class CheckinState:
    """A member's checked days: recent runs, the count of all, and a version guarding writes."""

    runs: tuple[Run, ...] = ()
    total: int = 0
    version: int = 0

    def run_at(self, day: date) -> Run | None:
        return next((run for run in self.runs if run.start <= day <= run.end), None)

    def checked(self, day: date) -> bool:
        return self.run_at(day) is not None


@dataclass(frozen=True)
class CheckinDay:
    """One checked day as the calendar shows it."""

    day: date
    made_up: bool
    earned: int
    cost: int
    milestones: tuple[CheckinMilestone, ...]
    at: str


@dataclass(frozen=True)
class CheckinPlan:
    day: date
    made_up: bool
    reached: tuple[CheckinMilestone, ...]
    earned: int
    cost: int
    before: CheckinState
    after: CheckinState

    @property
    def net(self) -> int:
        """What the ledger entry moves: the pay, less a make-up's price."""
        return self.earned - self.cost


@dataclass(frozen=True)
class NextMilestone:
    milestone: CheckinMilestone
    checkins_to_go: int  # the next check-in included
    on: date  # checking in every day from the next check-in


@dataclass(frozen=True)
class Outlook:
    """Where the member stands today, in member-facing terms."""

    today: date
    checked_today: bool
    streak: int  # today's when checked, else the one today's check-in would continue
    count: int  # checked days of today's period (all time for `never`)
    total: int
    next_reward: int  # what the next check-in (today's, or tomorrow's once checked) pays
    next_milestone: NextMilestone | None
    makeup_days: tuple[date, ...]  # past days a make-up may still check in


def period(day: date, reset: str) -> tuple[date, date]:
    """The first and last day of the reset period `day` is in (all of time for `never`)."""
    if reset == "weekly":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    if reset == "monthly":
        first = day.replace(day=1)
        return first, (first + timedelta(days=32)).replace(day=1) - ONE_DAY
    return date.min, date.max


def _within(run: Run | None, bounds: tuple[date, date]) -> int:
    """How many of the run's days fall within the bounds."""
    if run is None:
        return 0
    start, end = max(run.start, bounds[0]), min(run.end, bounds[1])
    return max((end - start).days + 1, 0)


def streak_through(state: CheckinState, day: date, reset: str) -> int:
    """Consecutive checked days ending with `day`, within its period (0: `day` not checked)."""
    run = state.run_at(day)
    return _within(Run(run.start, day), period(day, reset)) if run else 0


def count_in_period(state: CheckinState, day: date, reset: str) -> int:
    if reset == "never":
        return state.total
    bounds = period(day, reset)
    return sum(_within(run, bounds) for run in state.runs)


def _continued(state: CheckinState, day: date, reset: str) -> int:
    """The streak a check-in on `day` continues: the one through the day before, in the same period."""
    before = day - ONE_DAY
    return streak_through(state, before, reset) if period(before, reset) == period(day, reset) else 0


def with_day(state: CheckinState, day: date, today: date) -> CheckinState:
    """The state once `day` is checked: the runs either side joined, runs older than KEEP_DAYS
    left to `total`."""
    before, after = state.run_at(day - ONE_DAY), state.run_at(day + ONE_DAY)
    joined = Run(before.start if before else day, after.end if after else day)
    horizon = today - timedelta(days=KEEP_DAYS)
    kept = [run for run in state.runs if run not in (before, after) and run.end >= horizon]
    runs = tuple(sorted([*kept, joined], key=lambda run: run.start))
    return CheckinState(runs, state.total + 1, state.version + 1)


def reward(state: CheckinState, rules: CheckinRules, day: date) -> tuple[tuple[CheckinMilestone, ...], int]:
    """The milestones a check-in of the unchecked `day` reaches, and what it pays."""
    bounds = period(day, rules.reset)
    joins = _within(state.run_at(day - ONE_DAY), bounds), _within(state.run_at(day + ONE_DAY), bounds)
    longest, joined = max(joins), sum(joins) + 1
    count = count_in_period(state, day, rules.reset) + 1
    reached = tuple(
        milestone
        for milestone in rules.milestones
        if (longest < milestone.day <= joined if milestone.kind == "streak" else milestone.day == count)
    )
    return reached, sum(m.points for m in reached) if reached else rules.base_points


def plan_checkin(state: CheckinState, rules: CheckinRules, day: date, today: date, registered_on: date) -> CheckinPlan:
    made_up = _admit(state, rules, day, today, registered_on)
    reached, earned = reward(state, rules, day)
    cost = (rules.makeup_cost_points or 0) if made_up else 0
    return CheckinPlan(day, made_up, reached, earned, cost, state, with_day(state, day, today))


def _admit(state: CheckinState, rules: CheckinRules, day: date, today: date, registered_on: date) -> bool:
    """Whether the check-in is a make-up; refused when the rules do not allow it."""
    if not rules.enabled:
        raise CheckinClosed("check-in is not offered")
    if day > today:
        raise InvalidInput("a day after today cannot be checked in", field="date", code="checkin_future_day")
    made_up = day < today
    if state.checked(day):
        raise already_checked(day, made_up)
    if made_up and rules.makeup_cost_points is None:
        raise CheckinClosed("make-ups are not offered", field="date", code="makeup_disabled")
    if made_up and ((today - day).days > rules.makeup_days or day < registered_on):
        reason = f"a make-up reaches back at most {rules.makeup_days} days, and not before registration"
        raise InvalidInput(reason, field="date", code="makeup_out_of_range")
    return made_up


def already_checked(day: date, made_up: bool) -> AlreadyCheckedIn:
    """409: today's check-in again, or a make-up of a day already checked."""
    if made_up:
        return AlreadyCheckedIn(f"{day} is checked in already", field="date", code="makeup_day_checked")
    return AlreadyCheckedIn(f"checked in on {day} already")


def outlook(state: CheckinState, rules: CheckinRules, today: date, registered_on: date) -> Outlook:
    checked = state.checked(today)
    upcoming = today + ONE_DAY if checked else today
    streak = streak_through(state, today, rules.reset) if checked else _continued(state, today, rules.reset)
    return Outlook(
        today=today,
        checked_today=checked,
        streak=streak,
        count=count_in_period(state, today, rules.reset),
        total=state.total,
        next_reward=reward(state, rules, upcoming)[1],
        next_milestone=next_milestone(state, rules, upcoming),
        makeup_days=open_makeup_days(state, rules, today, registered_on),
    )


def next_milestone(state: CheckinState, rules: CheckinRules, upcoming: date) -> NextMilestone | None:
    """The milestone the fewest daily check-ins from `upcoming` reach within its period (the
    richer one on a tie)."""
    have = {
        "streak": _continued(state, upcoming, rules.reset),
        "cumulative": count_in_period(state, upcoming, rules.reset),
    }
    found: list[NextMilestone] = []
    for milestone in rules.milestones:
        to_go = milestone.day - have[milestone.kind]
        on = upcoming + timedelta(days=to_go - 1)
        if to_go >= 1 and period(on, rules.reset) == period(upcoming, rules.reset):
            found.append(NextMilestone(milestone, to_go, on))
    return min(found, key=lambda n: (n.checkins_to_go, -n.milestone.points), default=None)


def open_makeup_days(state: CheckinState, rules: CheckinRules, today: date, registered_on: date) -> tuple[date, ...]:
    if not rules.enabled or rules.makeup_cost_points is None:
        return ()
    days = (today - timedelta(days=back) for back in range(rules.makeup_days, 0, -1))
    return tuple(day for day in days if day >= registered_on and not state.checked(day))
