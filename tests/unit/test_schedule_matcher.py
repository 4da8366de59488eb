"""The local worker fires each schedule in the UTC minutes EventBridge would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from local.worker import schedule_due

SHANGHAI = timezone(timedelta(hours=8))


def _minute(hour: int, minute: int, day: int = 30) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_daily_cron_fires_only_in_its_utc_minute() -> None:
    expression = "cron(5 16 * * ? *)"

    assert schedule_due(expression, _minute(16, 5))
    assert not schedule_due(expression, _minute(16, 6))
    assert not schedule_due(expression, _minute(15, 5))
    assert not schedule_due(expression, _minute(8, 5))


def test_cron_hours_are_utc_even_for_a_local_moment() -> None:
    # 00:05 on Dec 1 in Shanghai is 16:05 UTC on Nov 30.
    assert schedule_due("cron(5 16 * * ? *)", datetime(2026, 12, 1, 0, 5, tzinfo=SHANGHAI))


def test_cron_fires_every_day_of_every_month() -> None:
    fired = [
        day
        for day in range(365)
        if schedule_due("cron(0 2 * * ? *)", datetime(2026, 1, 1, 2, 0, tzinfo=UTC) + timedelta(days=day))
    ]

    assert len(fired) == 365


@pytest.mark.parametrize(
    ("expression", "minute", "due"),
    [
        ("cron(0,30 * * * ? *)", _minute(9, 30), True),
        ("cron(0,30 * * * ? *)", _minute(9, 31), False),
        ("cron(*/15 * * * ? *)", _minute(9, 45), True),
        ("cron(*/15 * * * ? *)", _minute(9, 50), False),
        ("cron(0 9-17 * * ? *)", _minute(18, 0), False),
        ("cron(0 9-17 * * ? *)", _minute(17, 0), True),
        ("cron(0 0 15 * ? *)", _minute(0, 0, day=15), True),
        ("cron(0 0 15 * ? *)", _minute(0, 0, day=16), False),
        ("cron(0 0 * * ? 2027)", _minute(0, 0), False),
    ],
)
def test_cron_fields(expression: str, minute: datetime, due: bool) -> None:
    assert schedule_due(expression, minute) is due


def test_rate_in_minutes_fires_every_n_minutes() -> None:
    start = _minute(10, 0)
    fired = [n for n in range(60) if schedule_due("rate(5 minutes)", start + timedelta(minutes=n))]

    assert fired == list(range(0, 60, 5))


def test_rate_of_one_minute_uses_chalices_singular_unit() -> None:
    assert all(schedule_due("rate(1 minute)", _minute(10, n)) for n in range(5))


def test_rate_in_hours_fires_on_the_hour() -> None:
    assert schedule_due("rate(1 hour)", _minute(7, 0))
    assert not schedule_due("rate(1 hour)", _minute(7, 1))


@pytest.mark.parametrize("expression", ["cron(0 2 ? * MON *)", "rate(0 minutes)", "rate(5 weeks)", "at(2026-01-01)"])
def test_unsupported_expressions_are_refused_not_ignored(expression: str) -> None:
    with pytest.raises(ValueError):
        schedule_due(expression, _minute(2, 0))


def test_worker_reads_the_schedules_declared_in_app() -> None:
    import app
    from local.worker import Worker

    worker = Worker(app)
    names = {name: expression for name, expression, _ in worker.schedules}

    assert names["expire-points"] == "cron(5 16 * * ? *)"
    assert names["campaigns"] == "rate(5 minutes)"
    assert [queue for queue, _ in worker.queues] == ["test-events"]
