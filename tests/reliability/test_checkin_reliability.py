"""Check-ins under concurrency against the embedded moto server: one reward per member and day
whatever races, make-ups and check-ins of other days that race keep the streak whole, and an
order earning at the same moment is neither lost nor doubled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain import ledger as kinds
from chalicelib.domain.checkins import AlreadyCheckedIn
from chalicelib.domain.members import Member
from chalicelib.services import checkins, orders, points
from chalicelib.services.reconcile import reconcile
from chalicelib.store import checkins_repo, members_repo, points_repo
from tests.support.programme import publish_with
from tests.support.race import race

THREADS = 8
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # noon in Shanghai


def _member(member_id: str, balance: int = 0) -> None:
    members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:{member_id}"])
    if balance:
        points.earn(member_id, balance, points.operation(f"seed:{member_id}", {"seed": balance}, NOW))


def _publish(**checkin: Any) -> None:
    publish_with("checkin", checkin)


def test_eight_concurrent_check_ins_of_one_member_on_one_day_reward_once(tables: None) -> None:
    _member("m_race")

    outcomes = race([lambda: checkins.check_in("m_race", None, NOW) for _ in range(THREADS)])

    kinds_seen = Counter(type(outcome).__name__ for outcome in outcomes)
    assert kinds_seen == {"CheckinResult": 1, "AlreadyCheckedIn": THREADS - 1}, outcomes
    assert all(o.code == "already_checked_in" for o in outcomes if isinstance(o, AlreadyCheckedIn))
    ledger = list(points_repo.iter_member_entries("m_race"))
    assert [(e.kind, e.delta) for e in ledger] == [(kinds.CHECKIN, 5)]
    assert members_repo.get_member("m_race").balance == 5
    state = checkins_repo.load_state("m_race")
    assert (state.total, state.version) == (1, 1)
    assert list(reconcile(["m_race"])) == []


def test_eight_concurrent_retries_with_one_key_all_answer_the_one_check_in(tables: None) -> None:
    _member("m_key")

    outcomes = race([lambda: checkins.check_in("m_key", None, NOW, "same-key") for _ in range(THREADS)])

    assert all(isinstance(o, checkins.CheckinResult) for o in outcomes), outcomes
    assert {(o.day, o.earned, o.balance) for o in outcomes} == {(NOW.date(), 5, 5)}
    assert len(list(points_repo.iter_member_entries("m_key"))) == 1


def test_make_ups_and_todays_check_in_racing_all_land_and_the_streak_is_whole(tables: None) -> None:
    _publish(makeup_cost_points=3, makeup_days=5, milestones=[{"day": 6, "points": 50}])
    _member("m_mend", balance=100)
    days = [NOW.date() - timedelta(days=n) for n in range(5)]  # today and the four before

    outcomes = race([lambda d=d: checkins.check_in("m_mend", d, NOW) for d in days])

    assert all(isinstance(o, checkins.CheckinResult) for o in outcomes), outcomes
    state = checkins_repo.load_state("m_mend")
    assert state.total == 5 and len(state.runs) == 1
    ledger = [e for e in points_repo.iter_member_entries("m_mend") if e.kind != kinds.EARN]
    assert len(ledger) == 5 and sum(int(e.detail["cost"]) for e in ledger) == 4 * 3
    balance = members_repo.get_member("m_mend").balance
    assert balance == 100 + sum(e.delta for e in ledger)
    assert list(reconcile(["m_mend"])) == []


def test_an_order_earning_while_the_member_checks_in_is_neither_lost_nor_doubled(tables: None) -> None:
    _member("m_busy")

    def order(n: int) -> Any:
        ref = orders.MemberRef(member_id="m_busy")
        return orders.record_order(f"busy-{n}", ref, 1_000, NOW, None, NOW, pos_client="pos-1")

    calls: list[Callable[[], Any]] = [lambda n=n: order(n) for n in range(4)]
    calls += [lambda: checkins.check_in("m_busy", None, NOW) for _ in range(4)]
    outcomes = race(calls)

    assert sum(isinstance(o, checkins.CheckinResult) for o in outcomes) == 1
    assert sum(isinstance(o, AlreadyCheckedIn) for o in outcomes) == 3
    assert not [o for o in outcomes[:4] if isinstance(o, Exception)], outcomes
    assert members_repo.get_member("m_busy").balance == 4 * 10 + 5
    assert list(reconcile(["m_busy"])) == []
