"""Member merge (会员合并): two members who are one person become one — points, lots, debt,
growth, ledger references and aliases move to the survivor; nothing lost, nothing doubled."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.tasks import PermanentFailure
from chalicelib.notify import consumer
from chalicelib.services import channel_tasks, identity
from chalicelib.services.reconcile import reconcile
from chalicelib.store import members_repo, merge_repo, points_repo
from chalicelib.store.models import IdentityModel, LedgerEntryModel, MemberModel, MergeModel, PointsLotModel
from tests.support.api import Api, dumps, member_headers, operator_headers


def _login(api: Api, code: str) -> tuple[str, str]:
    response = api.http.post("/v1/auth/login", body=dumps({"code": code}), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.body
    return response.json_body["token"], response.json_body["member_id"]


def _request_merge(api: Api, survivor: str, merged: str, operator: str = "alice") -> Any:
    body = dumps({"survivor_id": survivor, "merged_id": merged, "reason": "same customer (ticket 42)"})
    return api.http.post("/admin/members/merge", body=body, headers=operator_headers(operator))


def _approve(api: Api, approval_id: str, approver: str = "bob") -> Any:
    return api.http.post(f"/admin/approvals/{approval_id}/approve", body=b"{}", headers=operator_headers(approver))


def _merge(api: Api, survivor: str, merged: str, operator: str = "alice", approver: str = "bob") -> Any:
    """An operator asks, a second operator approves: the approval's answer, as the merge (MergeOut)."""
    requested = _request_merge(api, survivor, merged, operator)
    if requested.status_code != 202:
        return requested
    approved = _approve(api, requested.json_body["approval_id"], approver)
    if approved.status_code != 200:
        return approved
    return SimpleNamespace(status_code=200, json_body=approved.json_body["merge"]["merge"])


def _snapshot() -> str:
    tables = (MemberModel, IdentityModel, PointsLotModel, LedgerEntryModel, MergeModel)
    items = {
        model.__name__: sorted(json.dumps(i.to_simple_dict(), sort_keys=True) for i in model.scan()) for model in tables
    }
    return json.dumps(items, sort_keys=True)


def _ledger(api: Api, token: str) -> list[dict[str, Any]]:
    response = api.http.get("/v1/me/points/ledger?limit=50", headers=member_headers(token))
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json_body["items"]
    return items


def test_two_members_with_points_and_history_merge_into_one_and_rerunning_changes_nothing(api: Api) -> None:
    token_a, a = _login(api, "demo:ann")
    token_b, b = _login(api, "nounion:bo")
    api.order("MA-1", {"member_id": a}, 30_000)  # 300 points, 300 growth
    api.order("MB-1", {"member_id": b}, 12_000)  # 120
    api.order("MB-2", {"member_id": b}, 5_000)  # 50
    assert api.redeem(token_b, 40, "b-spend").status_code == 201
    assert api.refund("MB-1", {"refund_id": "r1", "amount_fen": 2_000}).status_code == 200  # -20
    b_before = members_repo.get_member(b)
    assert b_before.balance == 110 and b_before.growth == 150

    requested = _request_merge(api, a, b)
    assert requested.status_code == 202 and requested.json_body["status"] == "pending"
    assert requested.json_body["preview"] == {"points": 110, "debt": 0, "growth": 150, "lots": 1, "aliases": 1}
    assert members_repo.get_member(b).merged_into is None, "nothing moves before a second operator approves"
    assert _approve(api, requested.json_body["approval_id"], "alice").status_code == 403  # the requester

    first = _merge(api, a, b)

    assert first.status_code == 200, first.body
    body = first.json_body
    assert body["status"] == "done" and body["survivor_id"] == a and body["merged_id"] == b
    assert body["moved"] == {"points": 110, "debt": 0, "growth": 150, "lots": 1, "aliases": 1}
    assert (body["operator"], body["approved_by"], body["trigger"]) == ("alice", "bob", "operator")
    survivor, merged = members_repo.get_member(a), members_repo.get_member(b)
    assert (survivor.balance, survivor.growth) == (410, 450)
    assert (merged.balance, merged.debt, merged.growth, merged.merged_into) == (0, 0, 0, a)
    assert points_repo.load_lots(b) == []
    assert sum(lot.remaining for lot in points_repo.load_lots(a)) == 410
    assert list(reconcile([a, b])) == []
    assert members_repo.find_member_ids(["mini:o_bo"]) == {"mini:o_bo": a}
    assert [item["kind"] for item in _ledger(api, token_a)][0] == "merge"
    assert _ledger(api, token_b)[0]["points"] == -110, "the merged member's own ledger ends with the move out"

    state = _snapshot()
    again = [_merge(api, a, b, operator="bob", approver="carol") for _ in range(2)]
    assert [r.status_code for r in again] == [200, 200]
    assert [r.json_body for r in again] == [body, body]
    assert identity.merge_members(a, b, trigger="operator", now=_now()).detail["points"] == 110
    assert _snapshot() == state, "re-running the merge wrote nothing"


def _now() -> Any:
    from chalicelib.clock import utc_now

    return utc_now()


def test_after_a_merge_the_old_token_order_and_refund_all_reach_the_survivor(api: Api) -> None:
    token_a, a = _login(api, "demo:cy")
    token_b, b = _login(api, "nounion:cy2")
    api.order("MC-1", {"member_id": b}, 10_000)  # 100 on the member to be merged
    assert _merge(api, a, b).status_code == 200

    assert api.me(token_b).json_body["member_id"] == a, "an old token shows the survivor's card"
    assert api.redeem(token_b, 30, "after-merge").json_body["balance"] == 70
    earned = api.order("MC-2", {"openid": "o_cy2"}, 1_000).json_body
    assert earned["member_id"] == a and earned["balance"] == 80
    refund = api.refund("MC-1", {}).json_body
    assert refund["points_reversed"] == 100 and refund["balance"] == -20
    survivor = members_repo.get_member(a)
    assert (survivor.balance, survivor.debt) == (-20, 20)
    assert survivor.growth == 10, "the refund of the merged member's order gave its growth back too"
    assert list(reconcile([a, b])) == []


def test_debt_of_one_member_is_repaid_from_the_others_lots(api: Api) -> None:
    token_a, a = _login(api, "demo:dee")
    _, b = _login(api, "nounion:dee2")
    api.order("MD-1", {"member_id": a}, 10_000)
    api.redeem(token_a, 100, "all")
    api.refund("MD-1", {})  # a: balance -100, debt 100
    api.order("MD-2", {"member_id": b}, 25_000)  # b: 250 in a lot

    assert _merge(api, a, b).json_body["moved"]["debt"] == 0

    survivor = members_repo.get_member(a)
    assert (survivor.balance, survivor.debt) == (150, 0)
    assert sum(lot.remaining for lot in points_repo.load_lots(a)) == 150
    assert list(reconcile([a, b])) == []


def test_login_revealing_a_late_unionid_merges_the_duplicate(api: Api) -> None:
    # The official account follower (unionid known) and an earlier mini-program member without it.
    follower, _ = identity.find_or_create(["union:u_eve", "mp:mp_eve"], _now())
    _, mini_member = _login(api, "nounion:eve")
    api.order("ME-1", {"member_id": mini_member}, 8_800)

    token, member_id = _login(api, "demo:eve")

    assert member_id == follower, "the member holding the unionid survives"
    assert api.me(token).json_body["points"]["balance"] == 88
    assert members_repo.get_member(mini_member).merged_into == follower
    assert members_repo.find_member_ids(["mini:o_eve"]) == {"mini:o_eve": follower}
    record = merge_repo.get(mini_member)
    assert record is not None and record.trigger == "login" and record.status == "done"
    assert _login(api, "demo:eve")[1] == follower
    assert list(reconcile([follower, mini_member])) == []


def test_unionid_arriving_later_links_to_the_existing_member_without_a_duplicate(api: Api) -> None:
    _, first = _login(api, "nounion:fay")
    assert _login(api, "demo:fay")[1] == first
    assert members_repo.get_member(first).unionid == "u_fay"
    assert merge_repo.get(first) is None


def test_a_phone_on_another_login_is_409_and_merges_only_when_an_operator_approves(api: Api) -> None:
    """The takeover: a member with no unionid bound another login's phone, was merged into it
    and spent its points. A phone match alone proves nothing about another WeChat account."""
    token_a, a = _login(api, "nounion:gil")
    token_b, b = _login(api, "nounion:gil-work-phone")
    api.order("MG-1", {"member_id": b}, 4_200)
    phone = dumps({"code": "phone:13900002222"})
    assert api.http.post("/v1/me/phone", body=phone, headers=member_headers(token_a)).status_code == 200

    response = api.http.post("/v1/me/phone", body=phone, headers=member_headers(token_b))

    assert response.status_code == 409 and response.json_body["error"]["code"] == "phone_bound_to_other_member"
    assert api.me(token_b).json_body["points"]["balance"] == 42 and api.me(token_a).json_body["points"]["balance"] == 0
    assert {members_repo.get_member(m).merged_into for m in (a, b)} == {None}
    again = api.http.post("/v1/me/phone", body=phone, headers=member_headers(token_b))
    assert again.status_code == 409
    request = _request_merge(api, a, b)  # the same pair: the request the binding left
    assert request.json_body["requested_by"] == f"member:{b}" and request.json_body["status"] == "pending"
    assert _approve(api, request.json_body["approval_id"], "alice").status_code == 200

    survivor = a if members_repo.get_member(a).merged_into is None else b
    assert {members_repo.get_member(m).merged_into for m in (a, b)} == {None, survivor}
    assert api.me(token_b).json_body["points"]["balance"] == 42
    assert api.me(token_b).json_body["phone"] == "139****2222"
    assert api.order("MG-2", {"phone": "13900002222"}, 100).json_body["member_id"] == survivor
    record = merge_repo.get(b if survivor == a else a)
    assert record is not None and (record.trigger, record.approved_by) == ("phone", "alice")


def test_a_phone_only_member_from_the_pos_is_claimed_by_the_login_that_binds_the_phone(api: Api) -> None:
    from chalicelib.clock import utc_now
    from chalicelib.services import identity as ident

    offline, _ = ident.find_or_create(["phone:" + _phone_hash("13900004444")], utc_now())
    api.order("OFF-1", {"member_id": offline}, 3_000)
    token, member_id = _login(api, "nounion:claimer")
    response = api.http.post("/v1/me/phone", body=dumps({"code": "phone:13900004444"}), headers=member_headers(token))
    assert response.status_code == 200
    assert api.me(token).json_body["points"]["balance"] == 30


def _phone_hash(phone: str) -> str:
    from chalicelib.security.phone import phone_hash

    return phone_hash(phone)


def test_same_phone_for_two_wechat_users_stays_409_but_an_operator_may_merge(api: Api) -> None:
    token_a, a = _login(api, "demo:hal")
    token_b, b = _login(api, "demo:hal-other")
    phone = dumps({"code": "phone:13700003333"})
    api.http.post("/v1/me/phone", body=phone, headers=member_headers(token_a))
    refused = api.http.post("/v1/me/phone", body=phone, headers=member_headers(token_b))
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "phone_bound_to_other_member"
    assert members_repo.get_member(b).merged_into is None and merge_repo.get(b) is None

    assert _merge(api, a, b).status_code == 200
    assert members_repo.get_member(b).merged_into == a
    assert members_repo.find_member_ids(["union:u_hal-other"]) == {"union:u_hal-other": a}


def test_merge_errors_name_the_field(api: Api) -> None:
    _, a = _login(api, "demo:ivy")
    _, b = _login(api, "nounion:ivy2")
    _, c = _login(api, "nounion:ivy3")
    cases = [
        (("m_nobody", b), 404, "survivor_id"),
        ((a, "m_nobody"), 404, "merged_id"),
        ((a, a), 400, "merged_id"),
    ]
    for (survivor, merged), status, field in cases:
        response = _merge(api, survivor, merged)
        assert response.status_code == status, (survivor, merged, response.body)
        assert response.json_body["error"]["fields"][0]["field"] == field
    assert _merge(api, a, b).status_code == 200
    elsewhere = _merge(api, c, b)
    assert elsewhere.status_code == 409 and elsewhere.json_body["error"]["fields"][0]["field"] == "merged_id"
    backwards = _merge(api, b, a)
    assert backwards.status_code == 409 and backwards.json_body["error"]["fields"][0]["field"] == "survivor_id"
    bad_body = api.http.post("/admin/members/merge", body=dumps({"survivor_id": a}), headers=operator_headers())
    assert bad_body.status_code == 400
    unauthenticated = api.http.post(
        "/admin/members/merge",
        body=dumps({"survivor_id": a, "merged_id": c, "reason": "x"}),
        headers={"Content-Type": "application/json"},
    )
    assert unauthenticated.status_code == 401 and members_repo.get_member(c).merged_into is None


def test_merging_into_a_member_that_was_merged_reaches_its_survivor(api: Api) -> None:
    _, a = _login(api, "demo:jo")
    _, b = _login(api, "nounion:jo2")
    _, c = _login(api, "nounion:jo3")
    api.order("MJ-1", {"member_id": c}, 1_000)
    _merge(api, a, b)
    response = _merge(api, b, c)
    assert response.status_code == 200 and response.json_body["survivor_id"] == a
    assert members_repo.get_member(a).balance == 10
    assert list(reconcile([a, b, c])) == []


def test_merge_task_from_the_queue_finishes_the_merge_and_dead_letters_the_impossible(api: Api) -> None:
    _, a = _login(api, "demo:kai")
    _, b = _login(api, "nounion:kai2")
    api.order("MK-1", {"member_id": b}, 2_000)
    data = {"survivor_id": a, "merged_id": b, "trigger": "login"}
    task = DomainEvent(f"merge:{b}:{a}#task.merge_members", "task.merge_members", a, "2026-11-23T00:00:00Z", data)
    consumer.handle_record(task.to_json())
    consumer.handle_record(task.to_json())  # SQS redelivery
    assert members_repo.get_member(a).balance == 20 and members_repo.get_member(b).merged_into == a

    impossible = DomainEvent("x#task.merge_members", "task.merge_members", a, "t", {**data, "merged_id": "m_gone"})
    try:
        channel_tasks.merge_task(impossible)
    except PermanentFailure as failure:
        assert "MemberNotFound" in str(failure)
    else:
        raise AssertionError("an impossible merge must be dead-lettered, not retried")


def test_reconcile_flags_a_merged_member_that_still_holds_points(api: Api) -> None:
    _, a = _login(api, "demo:lex")
    _, b = _login(api, "nounion:lex2")
    assert _merge(api, a, b).status_code == 200
    PointsLotModel(b, "2027-11-30", remaining=5).save()  # a lot left behind would be points counted twice
    MemberModel(b).update(actions=[MemberModel.balance.set(5)])
    LedgerEntryModel(
        "stray", member_id=b, seq=99, kind="earn", delta=5, balance_after=5, created_at="t", fingerprint="f"
    ).save()
    problems = [m.problem for m in reconcile([a, b])]
    assert problems == ["merged member still holds points"]
