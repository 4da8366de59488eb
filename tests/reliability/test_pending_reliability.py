"""Pending order points (冻结期) under concurrency: the release racing refunds of the same
order, releases racing each other, and refunds by 8 threads inside the window. The held
points end released or cancelled exactly once; reconcile holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from chalicelib.domain import keys
from chalicelib.domain.members import Member
from chalicelib.services import orders, pending
from chalicelib.services.reconcile import reconcile
from chalicelib.store import members_repo, pending_repo
from tests.support.api import SHANGHAI
from tests.support.programme import publish_with
from tests.support.race import race, retrying

PAID = datetime(2026, 11, 30, 23, 30, tzinfo=SHANGHAI)  # the last evening of a month
RELEASED_AT = datetime(2026, 12, 7, 0, 5, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def window(tables: None) -> None:
    publish_with("points", {"pending_days": 7})


def _member_with_order(member_id: str, order_id: str, amount_fen: int) -> None:
    members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:o_{member_id}"])
    result = orders.record_order(
        order_id, orders.MemberRef(member_id=member_id), amount_fen, PAID, None, PAID, pos_client="pos-1"
    )
    assert result.points_pending == amount_fen // 100


def test_the_release_racing_refunds_counts_every_point_once(tables: None) -> None:
    _member_with_order("m_race_rel", "PR-1", 80_000)  # 800 held
    later = RELEASED_AT + timedelta(minutes=1)

    def refund(n: int) -> Callable[[], object]:
        return lambda: retrying(lambda: orders.refund_order("PR-1", f"r{n}", 5_000, later, "pos-1"))

    calls = [refund(n) for n in range(4)] + [
        lambda: retrying(lambda: pending.release(keys.order_entry("PR-1"), later))
    ] * 4
    outcomes = race(calls)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    member = members_repo.get_member("m_race_rel")
    # Each refund takes 50; what a refund found held it cancelled, what it found released it took back.
    assert member.pending == 0 and member.balance == 800 - 4 * 50 and member.debt == 0
    assert pending_repo.get(keys.order_entry("PR-1")) is None
    assert list(reconcile(["m_race_rel"])) == []


def test_eight_refunds_inside_the_window_cancel_held_points_without_debt(tables: None) -> None:
    _member_with_order("m_race_ref", "PR-2", 80_000)
    inside = PAID + timedelta(days=2)
    calls = [
        (lambda n=n: retrying(lambda: orders.refund_order("PR-2", f"r{n}", 10_000, inside, "pos-1"))) for n in range(8)
    ]
    outcomes = race(calls + calls)  # each refund sent twice at once
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    member = members_repo.get_member("m_race_ref")
    assert (member.pending, member.balance, member.debt) == (0, 0, 0)
    assert pending.release(keys.order_entry("PR-2"), RELEASED_AT) is None
    assert list(reconcile(["m_race_ref"])) == []
