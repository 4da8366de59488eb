"""Pending order points (冻结期): held for the return window, shown apart from the balance,
cancelled first by a refund inside the window (never debt), released once on their day into
the lot the order was dated for, through a merge, with reconcile covering them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from chalicelib import clock
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.jobs.runner import run_job
from chalicelib.services import identity
from chalicelib.services.reconcile import reconcile
from chalicelib.store import members_repo, pending_repo, points_repo
from chalicelib.store.models import JobStateModel, OutboxModel, PointsLotModel
from tests.support.api import SHANGHAI, Api, dumps, pos_headers
from tests.support.programme import publish_with

PAID = datetime(2026, 11, 20, 23, 59, tzinfo=SHANGHAI)  # a minute before midnight in Shanghai
WINDOW = 7
RELEASE_DAY = date(2026, 11, 27)


@pytest.fixture(autouse=True)
def window(tables: None) -> None:
    publish_with("points", {"pending_days": WINDOW})


def shanghai(day: date, hour: int = 0, minute: int = 15) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def order_at(api: Api, name: str, order_id: str, amount_fen: int, moment: datetime = PAID) -> tuple[str, str, object]:
    clock.pin(moment + timedelta(minutes=1))
    token, member_id = login(api, name)
    clock.pin(moment + timedelta(hours=1))  # paid_at() is an hour before the pinned instant
    response = api.order(order_id, {"member_id": member_id}, amount_fen)
    assert response.status_code == 200, response.body
    return token, member_id, response.json_body


def login(api: Api, name: str) -> tuple[str, str]:
    """`nounion:<name>`: a member WeChat gives no unionid for (one that may merge into another)."""
    code = name if ":" in name else f"demo:{name}"
    response = api.http.post("/v1/auth/login", body=dumps({"code": code}), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.body
    return response.json_body["token"], response.json_body["member_id"]


def release(day: date, hour: int = 0, minute: int = 15) -> dict[str, int]:
    JobStateModel("release-pending").delete()  # each run looks at its own day only
    return run_job("release-pending", shanghai(day, hour, minute))


def test_order_points_are_held_apart_from_the_balance(api: Api) -> None:
    token, member_id, body = order_at(api, "pend-a", "P-1", 12_000)
    assert body["points_earned"] == 120 and body["points_pending"] == 120 and body["balance"] == 0
    assert body["release_on"] == RELEASE_DAY.isoformat()
    points = api.me(token).json_body["points"]
    assert points["balance"] == 0 and points["pending"] == 120
    assert points["next_release"] == {"date": RELEASE_DAY.isoformat(), "points": 120}
    assert api.redeem(token, 100, "k1").status_code == 409  # held points are not spendable
    assert list(reconcile([member_id])) == []


def test_release_waits_for_its_day_then_adds_the_orders_lot_once(api: Api) -> None:
    token, member_id, _ = order_at(api, "pend-b", "P-2", 12_000)
    assert release(RELEASE_DAY - timedelta(days=1), 23, 59) == {"days": 1}
    assert members_repo.get_member(member_id).pending == 120
    counts = release(RELEASE_DAY)
    assert counts["days"] == 1
    member = members_repo.get_member(member_id)
    assert (member.balance, member.pending) == (120, 0)
    lot = PointsLotModel.get(member_id, "2027-11-30")  # dated by the paid day, Nov 20: rolling 12 months
    assert int(lot.remaining) == 120
    entry = points_repo.get_entry(keys.key("release", keys.order_entry("P-2")))
    assert entry is not None and entry.kind == kinds.RELEASE and entry.delta == 120
    assert OutboxModel.get(f"{entry.entry_id}#points.earned").kind == "points.earned"
    release(RELEASE_DAY)  # again: nothing twice
    assert members_repo.get_member(member_id).balance == 120
    assert pending_repo.get(keys.order_entry("P-2")) is None
    assert api.me(token).json_body["points"]["next_release"] is None
    assert list(reconcile([member_id])) == []


def test_a_refund_inside_the_window_cancels_held_points_first_and_makes_no_debt(api: Api) -> None:
    _, member_id, _ = order_at(api, "pend-c", "P-3", 12_000)
    partial = api.refund("P-3", {"refund_id": "r1", "amount_fen": 3_000})
    assert partial.status_code == 200, partial.body
    assert partial.json_body["points_reversed"] == 30
    member = members_repo.get_member(member_id)
    assert (member.balance, member.debt, member.pending) == (0, 0, 90)
    full = api.refund("P-3", {})
    assert full.status_code == 200 and full.json_body["points_reversed"] == 90
    member = members_repo.get_member(member_id)
    assert (member.balance, member.debt, member.pending) == (0, 0, 0)
    assert pending_repo.get(keys.order_entry("P-3")) is None
    release(RELEASE_DAY)
    assert members_repo.get_member(member_id).balance == 0  # nothing left to release
    assert list(reconcile([member_id])) == []


def test_a_refund_after_the_release_follows_the_debt_rules(api: Api) -> None:
    token, member_id, _ = order_at(api, "pend-d", "P-4", 12_000)
    release(RELEASE_DAY)
    clock.pin(shanghai(RELEASE_DAY, 10))
    token = api.login("pend-d")[0]
    assert api.redeem(token, 100, "spend").status_code == 201
    refund = api.refund("P-4", {})
    assert refund.status_code == 200 and refund.json_body["points_reversed"] == 120
    member = members_repo.get_member(member_id)
    assert (member.balance, member.debt) == (-100, 100)
    assert list(reconcile([member_id])) == []


def test_a_release_repays_debt_first(api: Api) -> None:
    token, member_id, _ = order_at(api, "pend-e", "P-5", 5_000, PAID - timedelta(days=10))
    release(RELEASE_DAY - timedelta(days=10))
    assert members_repo.get_member(member_id).balance == 50
    _, _, held = order_at(api, "pend-e", "P-6", 12_000)
    assert held["points_pending"] == 120
    clock.pin(PAID + timedelta(hours=2))
    token = api.login("pend-e")[0]
    assert api.redeem(token, 50, "all").status_code == 201
    assert api.refund("P-5", {}).status_code == 200  # its 50 were spent: debt
    assert members_repo.get_member(member_id).debt == 50
    release(RELEASE_DAY)
    member = members_repo.get_member(member_id)
    assert (member.balance, member.debt, member.pending) == (70, 0, 0)
    entry = points_repo.get_entry(keys.key("release", keys.order_entry("P-6")))
    assert entry is not None and entry.detail["debt_repaid"] == 50
    assert list(reconcile([member_id])) == []


def test_an_order_reported_after_its_window_is_spendable_at_once(api: Api) -> None:
    clock.pin(PAID)
    _, member_id = api.login("pend-f")
    late = PAID - timedelta(days=WINDOW, minutes=1)  # its window ended a minute ago
    raw = dumps(
        {"order_id": "P-8", "member": {"member_id": member_id}, "amount_fen": 5_000, "paid_at": late.isoformat()}
    )
    answer = api.http.post("/v1/orders", body=raw, headers=pos_headers("POST", "/v1/orders", raw))
    assert answer.status_code == 200, answer.body
    assert answer.json_body["points_pending"] == 0 and answer.json_body["points_earned"] == 50
    assert members_repo.get_member(member_id).balance == 50


def test_held_points_follow_a_merge_and_are_released_to_the_survivor(api: Api) -> None:
    _, merged_id, _ = order_at(api, "nounion:pend-g", "P-9", 12_000)
    _, survivor_id, _ = order_at(api, "pend-h", "P-10", 3_000)
    identity.merge_members(survivor_id, merged_id, trigger="operator", now=clock.utc_now())
    survivor = members_repo.get_member(survivor_id)
    assert survivor.pending == 150 and members_repo.get_member(merged_id).pending == 0
    assert list(reconcile([survivor_id, merged_id])) == []
    assert api.refund("P-9", {"refund_id": "half", "amount_fen": 6_000}).json_body["points_reversed"] == 60
    release(RELEASE_DAY)
    survivor = members_repo.get_member(survivor_id)
    assert (survivor.balance, survivor.pending, survivor.debt) == (90, 0, 0)
    assert list(reconcile([survivor_id, merged_id])) == []
