"""Action caps and budgets under concurrency against the embedded moto server: the counters move
in the points' own transaction, so racing reports never reward past a cap or the budget."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from chalicelib.clock import utc_now
from chalicelib.domain import ledger as kinds
from chalicelib.domain.members import Member
from chalicelib.services import actions, orders
from chalicelib.services.reconcile import reconcile
from chalicelib.store import members_repo, points_repo
from tests.support.programme import publish_with
from tests.support.race import race

THREADS = 8


def _member(member_id: str) -> None:
    members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:{member_id}"])


def _publish(*rules: dict[str, Any]) -> None:
    publish_with("earning", {"actions": list(rules)})


def _report(action_id: str, member_id: str) -> Callable[[], actions.ActionResult]:
    now = utc_now()
    ref = orders.MemberRef(member_id=member_id)
    return lambda: actions.record_action(action_id, ref, "share", now, now, pos_client="pos-1")


def _rewarded(member_id: str) -> list[Any]:
    return list(points_repo.iter_member_entries(member_id, kind=kinds.ACTION))


def test_eight_racing_reports_of_one_member_with_per_day_two_reward_exactly_two(tables: None) -> None:
    _publish({"action": "share", "points": 7, "per_day": 2})
    _member("m_race")

    outcomes = race([_report(f"a-{n}", "m_race") for n in range(THREADS)])

    seen = Counter(type(outcome).__name__ for outcome in outcomes)
    assert seen == {"ActionResult": 2, "ActionCapReached": 6}, outcomes
    assert len(_rewarded("m_race")) == 2
    assert members_repo.get_member("m_race").balance == 14
    assert list(reconcile(["m_race"])) == []


def test_a_budget_of_three_rewards_across_eight_racing_members_exactly_three(tables: None) -> None:
    _publish({"action": "share", "points": 10, "budget_points": 30})
    ids = [f"m_budget_{n}" for n in range(THREADS)]
    for member_id in ids:
        _member(member_id)

    outcomes = race([_report(f"b-{n}", member_id) for n, member_id in enumerate(ids)])

    seen = Counter(type(outcome).__name__ for outcome in outcomes)
    assert seen == {"ActionResult": 3, "ActionBudgetExhausted": 5}, outcomes
    assert sum(len(_rewarded(member_id)) for member_id in ids) == 3
    assert sum(members_repo.get_member(member_id).balance for member_id in ids) == 30


def test_racing_replays_of_one_action_id_reward_once(tables: None) -> None:
    _publish({"action": "share", "points": 4})
    _member("m_replay")
    report = _report("same", "m_replay")

    outcomes = race([report for _ in range(THREADS)])

    assert all(isinstance(outcome, actions.ActionResult) for outcome in outcomes), outcomes
    assert {outcome.balance for outcome in outcomes} == {4}
    assert len(_rewarded("m_replay")) == 1
