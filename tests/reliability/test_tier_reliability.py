"""An order earning while the tier review runs for the same member: whichever commits first,
the other decides on what it left, so tier, growth and review calendar always agree."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date
from typing import Any

import pytest

from chalicelib.domain.ledger import PointsChange
from chalicelib.domain.members import Member
from chalicelib.store import members_repo, points_repo, tiers_repo
from chalicelib.store.models import MemberModel
from tests.integration.test_jobs import queued
from tests.integration.test_tier_review import at, order, publish, review

REVIEW_DAY = "2027-03-10 10:30"


def _due_silver(member_id: str) -> str:
    """Silver since 2026-03-10 with nothing counted since: the review on 2027-03-10 lowers it."""
    members_repo.create_member(Member(member_id, "2025-01-01T00:00:00Z"), [])
    order(member_id, f"{member_id}:up", 3000, "2026-03-10 12:00")
    return member_id


def _agrees(member_id: str, growth: int) -> tuple[str, date | None]:
    found = members_repo.get_member(member_id)
    tier_state = found.tier_state
    assert found.growth == growth and sum(tier_state.growth_months.values()) == growth
    item = MemberModel.get(member_id)
    if found.tier_code == "normal":
        assert tier_state.review_on is None and item.tier_due_on is None, "the lowest tier is off the calendar"
    else:
        assert tier_state.review_on is not None and item.tier_due_on is not None
    return found.tier_code, tier_state.review_on


@pytest.fixture
def rules(tables: None) -> None:
    publish(window="rolling_12_months")


def test_an_order_committed_while_the_review_decides_makes_it_decide_again(
    rules: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = _due_silver("m_race_1")
    queued()
    commit = tiers_repo.commit_review
    raced: list[str] = []

    def order_first(member: Member, *args: Any) -> None:
        if not raced:
            raced.append(member.member_id)
            order(m, "late-order", 2500, "2027-03-09 20:00", reported="2027-03-10 10:29")
        commit(member, *args)

    monkeypatch.setattr(tiers_repo, "commit_review", order_first)
    review(REVIEW_DAY)

    assert raced == [m]
    assert _agrees(m, 5500) == ("silver", date(2028, 3, 10)), "the review saw the order: 2500 keeps silver"
    assert "tier.changed" not in [event["kind"] for event in queued()]


def test_a_review_committed_while_an_order_plans_makes_the_order_plan_again(
    rules: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = _due_silver("m_race_2")
    queued()
    commit = points_repo.commit
    raced: list[str] = []

    def review_first(change: PointsChange) -> None:
        if not raced:
            raced.append(change.member_id)
            review(REVIEW_DAY)
        commit(change)

    monkeypatch.setattr(points_repo, "commit", review_first)
    order(m, "racing-order", 3000, "2027-03-10 10:00", reported="2027-03-10 10:30")

    assert raced == [m]
    assert _agrees(m, 6000) == ("silver", date(2028, 3, 10)), "lowered, then raised again by the order"
    changes = [(e["data"]["direction"], e["data"]["tier_code"]) for e in queued() if e["kind"] == "tier.changed"]
    assert changes == [("down", "normal"), ("up", "silver")]


def test_orders_and_the_review_in_parallel_leave_every_member_consistent(rules: None) -> None:
    ids = [_due_silver(f"m_par_{n}") for n in range(8)]
    queued()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(work: Any) -> None:
        try:
            start.wait()
            work()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    def orders() -> None:
        for member_id in ids:
            order(member_id, f"{member_id}:par", 2500, "2027-03-09 20:00", reported="2027-03-10 10:29")

    threads = [threading.Thread(target=run, args=(work,)) for work in (orders, lambda: review(REVIEW_DAY))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    downs = Counter(e["member_id"] for e in queued() if e["kind"] == "tier.changed")
    for member_id in ids:
        code, review_on = _agrees(member_id, 5500)
        # Order first: 2500 keeps silver. Review first: lowered, and 2500 does not raise it again.
        assert (code, review_on, downs[member_id]) in {("silver", date(2028, 3, 10), 0), ("normal", None, 1)}
    day = at(REVIEW_DAY).date()
    left = [tiers_repo.members_due(shard, day, None, 100)[0] for shard in range(tiers_repo.TIER_DUE_SHARDS)]
    assert left == [[]] * tiers_repo.TIER_DUE_SHARDS, "nobody left due"
