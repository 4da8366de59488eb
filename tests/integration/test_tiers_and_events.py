"""Growth value (成长值) and tiers from orders, and the member events published after commit."""

from __future__ import annotations

from typing import Any

from chalicelib.store import members_repo
from chalicelib.store.models import MemberModel
from tests.support.api import Api, dumps, operator_headers
from tests.support.worker import drain


def _kinds(bodies: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {body["kind"]: body for body in bodies}


def test_orders_add_growth_and_crossing_a_threshold_upgrades_the_tier(api: Api) -> None:
    token, member_id = api.login("tina")
    api.order("T-1", {"member_id": member_id}, 250_050)  # ¥2,500.50 → growth 2500
    assert members_repo.get_member(member_id).growth == 2500
    assert api.me(token).json_body["tier"]["code"] == "normal"

    api.order("T-2", {"member_id": member_id}, 60_000)  # +600 → 3100 ≥ 3000

    member = members_repo.get_member(member_id)
    assert (member.growth, member.tier_code) == (3100, "silver")
    assert api.me(token).json_body["tier"] == {"code": "silver", "name": "银卡"}


def test_refund_takes_growth_back_but_never_downgrades(api: Api) -> None:
    _, member_id = api.login("uli")
    api.order("U-1", {"member_id": member_id}, 400_000)
    api.refund("U-1", {"refund_id": "r1", "amount_fen": 150_000})
    member = members_repo.get_member(member_id)
    assert (member.growth, member.tier_code) == (2500, "silver"), "downgrades belong to the annual review"
    api.refund("U-1", {})
    assert members_repo.get_member(member_id).growth == 0


def test_order_publishes_points_earned_and_tier_changed_and_a_replay_publishes_nothing_more(api: Api) -> None:
    _, member_id = api.login("vic")
    drain()
    api.order("V-1", {"member_id": member_id}, 300_000)
    first = _kinds(drain())
    assert set(first) == {"points.earned", "tier.changed"}, "no WeChat Work contact: no tag task"
    earned, changed = first["points.earned"], first["tier.changed"]
    assert earned["event_id"] == "order:V-1#points.earned" and earned["member_id"] == member_id
    assert earned["data"]["points"] == 3000 and earned["data"]["balance"] == 3000
    assert changed["event_id"] == "order:V-1#tier.changed"
    assert changed["data"]["tier_code"] == "silver" and changed["data"]["previous_tier_code"] == "normal"
    assert changed["data"]["tier_name"] == "银卡"

    api.order("V-1", {"member_id": member_id}, 300_000)
    assert drain() == [], "the events were written once, with the order, to the outbox"

    api.order("V-2", {"member_id": member_id}, 1_000)
    assert set(_kinds(drain())) == {"points.earned"}, "no tier change, no tier event"


def test_tier_change_of_a_wechat_work_contact_asks_the_worker_to_mark_the_tag(api: Api) -> None:
    _, member_id = api.login("wes")
    MemberModel(member_id).update(
        actions=[
            MemberModel.work_external_userid.set("wm_wes"),
            MemberModel.work_follow_users.set({"staff_b", "staff_a"}),
        ]
    )
    drain()
    api.order("W-1", {"member_id": member_id}, 1_500_000)  # growth 15000 → gold
    task = _kinds(drain())["task.work_mark_tag"]
    assert task["event_id"] == "order:W-1#task.work_mark_tag"
    assert task["data"] == {
        "member_id": member_id,
        "external_userid": "wm_wes",
        "userid": "staff_a",
        "userids": ["staff_a", "staff_b"],
        "tier_code": "gold",
        "previous_tier_code": "normal",
    }


def test_redemption_publishes_points_redeemed_once_per_key(api: Api) -> None:
    token, member_id = api.login("xia")
    api.order("X-1", {"member_id": member_id}, 10_000)
    drain()
    for _ in range(2):
        assert api.redeem(token, 30, "xr-1", reason="coffee").status_code == 201
    bodies = drain()
    assert [body["kind"] for body in bodies] == ["points.redeemed"], "the replay wrote no second event"
    assert {body["event_id"] for body in bodies} == {f"redeem:{member_id}:xr-1#points.redeemed"}
    assert bodies[0]["data"] == {"points": 30, "balance": 70, "reason": "coffee"}


def test_operator_adjustments_publish_no_member_redemption_event(api: Api) -> None:
    _, member_id = api.login("yan")
    api.adjust(member_id, 50, "adj-1")
    api.adjust(member_id, -20, "adj-2")
    assert [body["kind"] for body in drain()] == []


def test_merge_keeps_the_better_tier_and_announces_it(api: Api) -> None:
    _, a = api.login("zoe")
    response = api.http.post(
        "/v1/auth/login", body=dumps({"code": "nounion:zoe2"}), headers={"Content-Type": "application/json"}
    )
    b = response.json_body["member_id"]
    api.order("Z-1", {"member_id": b}, 1_600_000)  # b reaches gold
    api.order("Z-2", {"member_id": a}, 10_000)
    drain()
    body = dumps({"survivor_id": a, "merged_id": b, "reason": "same person"})
    requested = api.http.post("/admin/members/merge", body=body, headers=operator_headers())
    assert requested.status_code == 202
    approve = f"/admin/approvals/{requested.json_body['approval_id']}/approve"
    assert api.http.post(approve, body=b"{}", headers=operator_headers("bob")).status_code == 200
    survivor = members_repo.get_member(a)
    assert (survivor.tier_code, survivor.growth) == ("gold", 16_100)
    changed = _kinds(drain())["tier.changed"]
    assert changed["event_id"] == f"merge:{b}:in#tier.changed" and changed["data"]["tier_code"] == "gold"
