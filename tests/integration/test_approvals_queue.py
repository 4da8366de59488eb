"""The approvals queue (审核队列): requests listed by status, newest first, through an index;
a second operator rejects (驳回) one with a reason, once, never their own; every request and
decision is audited with its effect; the requester hears the decision on WeChat Work."""

from __future__ import annotations

from typing import Any

import pytest
from pynamodb.models import Model

from chalicelib.store import audit_repo, members_repo
from tests.support.api import Api, dumps, member_headers, operator_headers
from tests.support.notify import drain_into_worker, reset_fake_wechat, sent_messages
from tests.support.worker import relay


@pytest.fixture
def wechat(fake_wechat: str) -> str:
    return reset_fake_wechat(fake_wechat)


def _queue(api: Api, operator: str = "alice", **query: Any) -> Any:
    from urllib.parse import urlencode

    return api.http.get(f"/admin/approvals?{urlencode(query)}", headers=operator_headers(operator))


def _reject(api: Api, approval_id: str, operator: str = "bob", reason: str = "证据不足") -> Any:
    path = f"/admin/approvals/{approval_id}/reject"
    return api.http.post(path, body=dumps({"reason": reason}), headers=operator_headers(operator))


def _approve(api: Api, approval_id: str, operator: str = "bob") -> Any:
    return api.http.post(f"/admin/approvals/{approval_id}/approve", body=b"{}", headers=operator_headers(operator))


def _pending_adjustment(api: Api, member_id: str, points: int = 5000, key: str = "big", operator: str = "alice") -> str:
    response = api.adjust(member_id, points, key, operator=operator)
    assert response.json_body["status"] == "pending", response.body
    return str(response.json_body["approval_id"])


def _merge_request(api: Api, survivor: str, merged: str, operator: str = "alice") -> str:
    body = dumps({"survivor_id": survivor, "merged_id": merged, "reason": "same customer"})
    response = api.http.post("/admin/members/merge", body=body, headers=operator_headers(operator))
    assert response.status_code == 202, response.body
    return str(response.json_body["approval_id"])


def _tick() -> None:
    """Requests a second apart: the queue's order is the order they were made in."""
    from datetime import timedelta

    from chalicelib import clock

    clock.pin(clock.utc_now() + timedelta(seconds=1))


def _decided_texts(wechat: str) -> list[tuple[str, str]]:
    relay()
    assert drain_into_worker() == []
    return [(s["body"]["touser"], s["body"]["text"]["content"]) for s in sent_messages(wechat, "work_message")]


def _with_wecom(api: Api, operator: str, userid: str) -> None:
    body = dumps({"wecom_userid": userid})
    response = api.http.patch(f"/admin/operators/{operator}", body=body, headers=operator_headers("dana"))
    assert response.status_code == 200, response.body


def test_pending_adjustments_and_merges_are_listed_newest_first_with_the_merge_preview(api: Api) -> None:
    _, member = api.login("qa1")
    _, survivor = api.login("qa2")
    _, merged = api.login("nounion:qa3")
    api.order("QA-1", {"member_id": merged}, 4_200)
    adjustment = _pending_adjustment(api, member)
    _tick()
    merge = _merge_request(api, survivor, merged)

    response = _queue(api, "erin")  # the auditor reads the queue

    assert response.status_code == 200, response.body
    items = response.json_body["items"]
    assert [(i["approval_id"], i["kind"], i["status"]) for i in items] == [
        (merge, "merge", "pending"),
        (adjustment, "adjust", "pending"),
    ]
    preview = items[0]["merge"].pop("preview")
    assert items[0]["merge"] == {"survivor_id": survivor, "merged_id": merged, "trigger": "operator"}
    assert (preview["points"], preview["growth"], preview["lots"]) == (42, 42, 1)
    assert (items[1]["member_id"], items[1]["points"], items[1]["requested_by"]) == (member, 5000, "alice")
    assert items[1]["merge"] is None and response.json_body["next_cursor"] is None
    assert [i["approval_id"] for i in _queue(api, kind="merge").json_body["items"]] == [merge]
    assert _queue(api, status="approved").json_body["items"] == []


def test_a_phone_bindings_merge_request_is_in_the_queue(api: Api) -> None:
    token_a, a = api.login("nounion:qb1")
    token_b, b = api.login("nounion:qb2")
    phone = dumps({"code": "phone:13900005555"})
    assert api.http.post("/v1/me/phone", body=phone, headers=member_headers(token_a)).status_code == 200
    assert api.http.post("/v1/me/phone", body=phone, headers=member_headers(token_b)).status_code == 409

    items = _queue(api, kind="merge").json_body["items"]

    assert [(i["requested_by"], i["merge"]["trigger"]) for i in items] == [(f"member:{b}", "phone")]
    assert {items[0]["merge"]["survivor_id"], items[0]["merge"]["merged_id"]} == {a, b}


def test_the_queue_pages_with_its_cursor_and_refuses_anyone_elses(api: Api) -> None:
    _, member = api.login("qc1")
    made = []
    for n in range(5):
        made.append(_pending_adjustment(api, member, 2000 + n, key=f"k{n}"))
        _tick()
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = _queue(api, **query).json_body
        seen += [i["approval_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]

    first = _queue(api, limit=2).json_body["next_cursor"]
    for status, bad in [("approved", first), ("pending", "eyJ4IjoxfQ"), ("pending", "not base64!"), ("pending", "")]:
        response = _queue(api, status=status, cursor=bad)
        if bad == "":
            assert response.status_code == 200  # no cursor: page 1
            continue
        assert response.status_code == 400, (status, bad)
        assert response.json_body["error"]["fields"][0]["field"] == "cursor"
    for query, field in [({"status": "done"}, "status"), ({"limit": 0}, "limit"), ({"kind": "A;B"}, "kind")]:
        response = _queue(api, **query)
        assert response.status_code == 400 and response.json_body["error"]["fields"][0]["field"] == field


def test_the_queue_reads_an_index_never_a_scan(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _, member = api.login("qd1")
    _pending_adjustment(api, member)

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the approvals queue scanned a table")

    monkeypatch.setattr(Model, "scan", classmethod(refuse))
    assert len(_queue(api).json_body["items"]) == 1
    assert len(_queue(api, kind="adjust").json_body["items"]) == 1


def test_a_rejected_adjustment_changes_no_points_and_is_decided_for_good(api: Api) -> None:
    token, member = api.login("qe1")
    approval = _pending_adjustment(api, member)

    assert _reject(api, approval, "alice").status_code == 403  # the requester
    assert _reject(api, approval, "erin").status_code == 403  # the auditor's role decides nothing
    rejected = _reject(api, approval, "bob", "客户未提供凭证 13800001234")

    assert rejected.status_code == 200, rejected.body
    body = rejected.json_body
    assert (body["status"], body["decided_by"], body["rejection_reason"]) == (
        "rejected",
        "bob",
        "客户未提供凭证 13800001234",
    )
    assert body["decided_at"] is not None
    assert _reject(api, approval, "bob", "客户未提供凭证 13800001234").json_body == body  # the same rejection again
    assert _reject(api, approval, "bob", "另一个理由").json_body == body  # still the first one
    assert _reject(api, approval, "carol").status_code == 409
    approve = _approve(api, approval, "carol")
    assert approve.status_code == 409 and approve.json_body["error"]["code"] == "approval_decided"
    assert api.me(token).json_body["points"]["balance"] == 0
    assert api.adjust(member, 5000, "big").json_body == {  # the retried request names its decided approval
        "status": "pending", "member_id": member, "points": 5000, "entry_id": None,
        "approval_id": approval, "balance": None,
    }  # fmt: skip
    assert [i["approval_id"] for i in _queue(api, status="rejected").json_body["items"]] == [approval]
    assert _queue(api).json_body["items"] == []


def test_an_approved_request_cannot_be_rejected(api: Api) -> None:
    token, member = api.login("qf1")
    approval = _pending_adjustment(api, member)
    assert _approve(api, approval).status_code == 200
    refused = _reject(api, approval, "carol")
    assert refused.status_code == 409 and refused.json_body["error"]["fields"][0]["field"] == "approval_id"
    assert _reject(api, approval, "bob").status_code == 409  # the approver neither
    assert api.me(token).json_body["points"]["balance"] == 5000
    assert [i["decided_by"] for i in _queue(api, status="approved").json_body["items"]] == ["bob"]


def test_a_rejected_merge_never_runs(api: Api) -> None:
    _, survivor = api.login("qg1")
    _, merged = api.login("nounion:qg2")
    api.order("QG-1", {"member_id": merged}, 1_000)
    approval = _merge_request(api, survivor, merged)
    assert _reject(api, approval).status_code == 200
    assert _approve(api, approval, "carol").status_code == 409
    assert members_repo.get_member(merged).merged_into is None and members_repo.get_member(merged).balance == 10
    again = _merge_request(api, survivor, merged, operator="carol")  # the same pair is the same, rejected request
    assert again == approval


def test_reject_errors_name_the_field(api: Api) -> None:
    _, member = api.login("qh1")
    approval = _pending_adjustment(api, member)
    path = f"/admin/approvals/{approval}/reject"
    for body, field in [
        (b"{}", "reason"),
        (dumps({"reason": "   "}), "reason"),
        (dumps({"reason": "x" * 201}), "reason"),
    ]:
        response = api.http.post(path, body=body, headers=operator_headers("bob"))
        assert response.status_code == 400 and response.json_body["error"]["fields"][0]["field"] == field, body
    missing = _reject(api, "apr_000000000000000000000000")
    assert missing.status_code == 404 and missing.json_body["error"]["fields"][0]["field"] == "approval_id"


def test_a_request_and_its_decision_are_audited_with_their_effect(api: Api) -> None:
    _, member = api.login("qi1")
    _, survivor = api.login("qi2")
    _, merged = api.login("nounion:qi3")
    adjustment = _pending_adjustment(api, member)
    merge = _merge_request(api, survivor, merged)
    assert _reject(api, adjustment).status_code == 200
    assert _approve(api, merge).status_code == 200
    _reject(api, adjustment)  # a replay: nothing committed, nothing audited

    def actions(target: str) -> list[tuple[str, str, Any]]:
        from datetime import timedelta

        from chalicelib.clock import utc_now

        page = audit_repo.query(
            target=target, operator=None, start=utc_now() - timedelta(hours=1), end=utc_now(), limit=20, cursor=None
        )
        return [(e.operator, e.action, (e.after or {}).get("status")) for e in reversed(page.entries)]

    assert actions(f"member:{member}") == [
        ("alice", "POST /admin/members/{member_id}/points/adjustments", "pending"),
        ("bob", "POST /admin/approvals/{approval_id}/reject", "rejected"),
    ]
    assert actions(f"member:{merged}") == [
        ("alice", "POST /admin/members/merge", "pending"),
        ("bob", "POST /admin/approvals/{approval_id}/approve", "approved"),
    ]


def test_the_requester_hears_the_decision_on_wechat_work_once(api: Api, wechat: str) -> None:
    _with_wecom(api, "alice", "alice.wu")
    _, member = api.login("qj1")
    api.order("QJ-1", {"member_id": member}, 500_000)
    rejected, approved = _pending_adjustment(api, member, key="a"), _pending_adjustment(api, member, -1500, key="b")
    assert _reject(api, rejected, "bob", "金额有误").status_code == 200
    assert _approve(api, approved, "bob").status_code == 200
    assert _approve(api, approved, "carol").status_code == 200  # a second approval: no second message

    texts = _decided_texts(wechat)

    assert sorted(texts) == sorted(
        [
            ("alice.wu", f"您提交的积分调整（会员 {member}，+5000）已被 bob 驳回：金额有误"),
            ("alice.wu", f"您提交的积分调整（会员 {member}，-1500）已由 bob 批准"),
        ]
    )
    assert _decided_texts(wechat) == texts  # nothing new on a later run


def test_a_merge_decision_reaches_the_operator_who_asked(api: Api, wechat: str) -> None:
    _with_wecom(api, "carol", "carol.li")
    _, survivor = api.login("qk1")
    _, merged = api.login("nounion:qk2")
    assert _approve(api, _merge_request(api, survivor, merged, operator="carol"), "bob").status_code == 200
    assert _decided_texts(wechat) == [
        ("carol.li", f"您提交的会员合并申请（会员 {merged} 并入 {survivor}）已由 bob 批准")
    ]


def test_nobody_is_notified_of_a_members_own_request_or_without_a_wechat_work_id(api: Api, wechat: str) -> None:
    token_a, _ = api.login("nounion:ql1")
    token_b, _ = api.login("nounion:ql2")
    phone = dumps({"code": "phone:13900006666"})
    api.http.post("/v1/me/phone", body=phone, headers=member_headers(token_a))
    api.http.post("/v1/me/phone", body=phone, headers=member_headers(token_b))
    by_member = _queue(api, kind="merge").json_body["items"][0]["approval_id"]
    _, member = api.login("ql3")
    by_bob = _pending_adjustment(api, member, operator="bob")  # bob has no wecom_userid

    assert _reject(api, by_member, "alice").status_code == 200
    assert _reject(api, by_bob, "alice").status_code == 200

    assert _decided_texts(wechat) == []
