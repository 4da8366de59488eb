"""Check-in rules (签到): streaks, period counts, milestones instead of the base, make-ups (补签)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chalicelib.domain.checkins import (
    KEEP_DAYS,
    AlreadyCheckedIn,
    CheckinClosed,
    CheckinState,
    count_in_period,
    outlook,
    period,
    plan_checkin,
    streak_through,
    with_day,
)
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.programme import CheckinRules

TODAY = date(2026, 11, 22)  # a Sunday
JOINED = date(2026, 1, 1)


def rules(**values: Any) -> CheckinRules:
    return CheckinRules.model_validate(values, strict=False)


def state_of(*days: date, today: date = TODAY) -> CheckinState:
    state = CheckinState()
    for day in sorted(days):
        state = with_day(state, day, today)
    return state


def back(n: int) -> date:
    return TODAY - timedelta(days=n)


def test_weeks_start_on_monday_and_months_on_the_first() -> None:
    assert period(date(2026, 11, 22), "weekly") == (date(2026, 11, 16), date(2026, 11, 22))
    assert period(date(2026, 11, 23), "weekly") == (date(2026, 11, 23), date(2026, 11, 29))
    assert period(date(2028, 2, 10), "monthly") == (date(2028, 2, 1), date(2028, 2, 29))
    assert period(date(2026, 12, 31), "monthly") == (date(2026, 12, 1), date(2026, 12, 31))


def test_a_day_joins_the_runs_either_side() -> None:
    state = state_of(back(3), back(1))
    assert len(state.runs) == 2

    joined = with_day(state, back(2), TODAY)

    assert [(run.start, run.end) for run in joined.runs] == [(back(3), back(1))]
    assert (joined.total, joined.version) == (3, state.version + 1)


def test_old_runs_are_only_counted_and_the_current_run_is_kept_whole() -> None:
    old = [back(KEEP_DAYS + 10), back(KEEP_DAYS + 5)]
    long_run = [back(n) for n in range(KEEP_DAYS + 30, -1, -1) if n < KEEP_DAYS + 2]
    state = state_of(*old, *long_run)

    assert state.total == len(old) + len(long_run)
    assert len(state.runs) == 1 and streak_through(state, TODAY, "never") == len(long_run)


def test_first_check_in_pays_the_base() -> None:
    plan = plan_checkin(CheckinState(), rules(base_points=5), TODAY, TODAY, JOINED)

    assert (plan.made_up, plan.earned, plan.cost, plan.net, plan.reached) == (False, 5, 0, 5, ())


def test_the_streak_milestone_day_pays_instead_of_the_base() -> None:
    checkin = rules(base_points=5, milestones=[{"day": 3, "points": 20}])

    third = plan_checkin(state_of(back(2), back(1)), checkin, TODAY, TODAY, JOINED)
    fourth = plan_checkin(state_of(back(3), back(2), back(1)), checkin, TODAY, TODAY, JOINED)

    assert (third.earned, [m.day for m in third.reached]) == (20, [3])
    assert (fourth.earned, fourth.reached) == (5, ())


def test_a_missed_day_breaks_the_streak() -> None:
    checkin = rules(milestones=[{"day": 3, "points": 20}])
    plan = plan_checkin(state_of(back(3), back(2)), checkin, TODAY, TODAY, JOINED)

    assert plan.earned == 5 and streak_through(plan.after, TODAY, "never") == 1


def test_cumulative_milestone_counts_days_of_the_month_with_gaps() -> None:
    checkin = rules(reset="monthly", milestones=[{"day": 3, "points": 15, "kind": "cumulative"}])
    state = state_of(date(2026, 10, 30), date(2026, 11, 2), date(2026, 11, 9))

    plan = plan_checkin(state, checkin, TODAY, TODAY, JOINED)

    assert count_in_period(state, TODAY, "monthly") == 2
    assert plan.earned == 15


def test_two_milestones_on_one_day_pay_their_sum_never_with_the_base() -> None:
    checkin = rules(base_points=5, milestones=[{"day": 2, "points": 10}, {"day": 2, "points": 7, "kind": "cumulative"}])

    assert plan_checkin(state_of(back(1)), checkin, TODAY, TODAY, JOINED).earned == 17


@pytest.mark.parametrize(
    ("reset", "streak"),
    [("never", 3), ("weekly", 1), ("monthly", 3)],
)
def test_weekly_reset_starts_the_streak_again_on_monday(reset: str, streak: int) -> None:
    monday = date(2026, 11, 23)
    state = state_of(date(2026, 11, 21), date(2026, 11, 22), today=monday)

    plan = plan_checkin(state, rules(reset=reset), monday, monday, JOINED)

    assert streak_through(plan.after, monday, reset) == streak


def test_monthly_reset_starts_counting_again_on_the_first() -> None:
    first = date(2026, 12, 1)
    checkin = rules(reset="monthly", milestones=[{"day": 1, "points": 9, "kind": "cumulative"}])
    state = state_of(back(1), TODAY, today=first)

    plan = plan_checkin(state, checkin, first, first, JOINED)

    assert plan.earned == 9 and streak_through(plan.after, first, "monthly") == 1


def test_a_make_up_costs_its_price_in_the_same_plan_and_joins_the_streak() -> None:
    checkin = rules(base_points=5, makeup_cost_points=30, makeup_days=3)
    state = state_of(back(3), back(2), TODAY)

    plan = plan_checkin(state, checkin, back(1), TODAY, JOINED)

    assert (plan.made_up, plan.earned, plan.cost, plan.net) == (True, 5, 30, -25)
    assert streak_through(plan.after, TODAY, "never") == 4


def test_a_make_up_that_closes_the_gap_pays_the_milestone_the_gap_cost() -> None:
    checkin = rules(makeup_cost_points=10, milestones=[{"day": 3, "points": 20}, {"day": 4, "points": 40}])
    # Two days, a gap, today: the make-up makes a run of 4 (3 and 4 reached, neither paid before).
    state = state_of(back(3), back(2), TODAY)

    plan = plan_checkin(state, checkin, back(1), TODAY, JOINED)

    assert [m.day for m in plan.reached] == [3, 4] and plan.earned == 60 and plan.net == 50


def test_a_make_up_does_not_pay_again_what_the_longer_run_reached() -> None:
    checkin = rules(makeup_cost_points=10, makeup_days=5, milestones=[{"day": 3, "points": 20}])
    # A run of 1, a gap, a run of 3 that already paid day 3: the joined run of 5 reaches nothing new.
    state = state_of(back(4), back(2), back(1), TODAY)

    plan = plan_checkin(state, checkin, back(3), TODAY, JOINED)

    assert plan.reached == () and plan.earned == 5


def test_a_make_up_does_not_pay_a_cumulative_milestone_twice() -> None:
    checkin = rules(reset="monthly", makeup_cost_points=10, milestones=[{"day": 3, "points": 20, "kind": "cumulative"}])
    state = state_of(back(3), back(2), TODAY)  # today was the 3rd of the month: paid

    assert plan_checkin(state, checkin, back(1), TODAY, JOINED).earned == 5


@pytest.mark.parametrize(
    ("day", "checkin", "error", "code"),
    [
        (TODAY + timedelta(days=1), rules(makeup_cost_points=5), InvalidInput, "checkin_future_day"),
        (back(4), rules(makeup_cost_points=5, makeup_days=3), InvalidInput, "makeup_out_of_range"),
        (back(1), rules(), CheckinClosed, "makeup_disabled"),
        (TODAY, rules(enabled=False), CheckinClosed, "checkin_disabled"),
        (back(2), rules(makeup_cost_points=5), AlreadyCheckedIn, "makeup_day_checked"),
        (back(3), rules(makeup_cost_points=5, makeup_days=3), InvalidInput, "makeup_out_of_range"),
    ],
    ids=["future", "too-old", "not-offered", "disabled", "checked", "before-registration"],
)
def test_make_ups_are_refused_outside_the_rules(
    day: date, checkin: CheckinRules, error: type[Exception], code: str
) -> None:
    with pytest.raises(error) as refused:
        plan_checkin(state_of(back(2)), checkin, day, TODAY, registered_on=back(2))
    assert getattr(refused.value, "code", None) == code


def test_checking_in_twice_a_day_is_refused() -> None:
    with pytest.raises(AlreadyCheckedIn) as refused:
        plan_checkin(state_of(TODAY), rules(), TODAY, TODAY, JOINED)
    assert refused.value.code == "already_checked_in"


def test_outlook_names_the_next_milestone_and_what_it_gives() -> None:
    checkin = rules(base_points=5, makeup_cost_points=10, milestones=[{"day": 7, "points": 30}])
    state = state_of(back(2), back(1), TODAY)

    view = outlook(state, checkin, TODAY, JOINED)

    assert (view.checked_today, view.streak, view.count, view.next_reward) == (True, 3, 3, 5)
    assert view.next_milestone is not None
    assert (view.next_milestone.milestone.day, view.next_milestone.checkins_to_go) == (7, 4)
    assert view.next_milestone.on == TODAY + timedelta(days=4)
    assert view.makeup_days == (back(3),)


def test_outlook_before_todays_check_in_continues_yesterdays_streak() -> None:
    checkin = rules(milestones=[{"day": 3, "points": 30}])
    view = outlook(state_of(back(2), back(1)), checkin, TODAY, JOINED)

    assert (view.checked_today, view.streak, view.next_reward) == (False, 2, 30)
    assert view.next_milestone is not None and view.next_milestone.on == TODAY


def test_a_milestone_past_the_end_of_the_week_is_not_next() -> None:
    checkin = rules(reset="weekly", milestones=[{"day": 7, "points": 30}])
    # Sunday, checked: the week ends with no 7-day streak reachable; next week's starts on Monday.
    view = outlook(state_of(back(1), TODAY), checkin, TODAY, JOINED)

    assert view.next_milestone is not None and view.next_milestone.on == TODAY + timedelta(days=7)
    assert view.next_milestone.checkins_to_go == 7


def test_programme_refuses_duplicate_and_unreachable_milestones() -> None:
    with pytest.raises(ValidationError, match="one milestone per kind and day"):
        rules(milestones=[{"day": 3, "points": 1}, {"day": 3, "points": 2}])
    with pytest.raises(ValidationError, match="beyond day 7"):
        rules(reset="weekly", milestones=[{"day": 8, "points": 1}])
    assert rules(milestones=[{"day": 3, "points": 1}, {"day": 3, "points": 2, "kind": "cumulative"}])


def _brute_streak(days: set[date], day: date, reset: str) -> int:
    first = period(day, reset)[0]
    n = 0
    while day in days and day >= first:
        n, day = n + 1, day - timedelta(days=1)
    return n


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 31)), max_size=60),
    st.sampled_from(["never", "weekly", "monthly"]),
)
def test_runs_count_as_the_plain_set_of_days_would(acts: list[tuple[int, int]], reset: str) -> None:
    """Days checked as time goes on (each act: advance the clock, then check a day at most 31 back)."""
    today, days, state = date(2026, 1, 1), set[date](), CheckinState()
    for advance, back_days in acts:
        today += timedelta(days=advance)
        day = today - timedelta(days=back_days)
        if day in days:
            continue
        days.add(day)
        state = with_day(state, day, today)
        for probe in (today - timedelta(days=n) for n in range(32)):
            assert streak_through(state, probe, reset) == _brute_streak(days, probe, reset)
        first, last = period(today, reset)
        assert count_in_period(state, today, reset) == sum(1 for d in days if first <= d <= last)
    assert state.total == len(days)
