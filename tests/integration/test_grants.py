"""Bulk points grants (批量发放积分): a CSV of member ids or phones, or an audience, checked up
front, stored with its chunks in one audited transaction, run by the grants job with
progress; above the adjustment limits only after a second operator approves."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.clock import utc_now
from chalicelib.domain import grants as rules
from chalicelib.jobs import grants as job
from chalicelib.jobs.runner import run_job
from chalicelib.store import grants_repo, members_repo, points_repo
from chalicelib.store.models import GrantChunkModel, GrantModel, MemberModel
from tests.support.api import Api, dumps, member_headers, operator_headers

PATH = "/admin/grants"


def _grant(api: Api, body: dict[str, Any], key: str = "g1", operator: str = "alice") -> Any:
    return api.http.post(PATH, body=dumps(body), headers={**operator_headers(operator), "Idempotency-Key": key})


def _csv(api: Api, lines: list[str], points: int = 10, key: str = "g1", operator: str = "alice") -> Any:
    return _grant(api, {"points": points, "reason": "双十一补发", "members_csv": "\n".join(lines)}, key, operator)


def _show(api: Api, grant_id: str, operator: str = "carol") -> Any:
    return api.http.get(f"{PATH}/{grant_id}", headers=operator_headers(operator))


def _approve(api: Api, approval_id: str, operator: str = "bob") -> Any:
    return api.http.post(f"/admin/approvals/{approval_id}/approve", body=b"{}", headers=operator_headers(operator))


def _run() -> dict[str, int]:
    return run_job("grants", utc_now())


def _member_with_phone(api: Api, name: str, phone: str) -> str:
    token, member_id = api.login(name)
    bound = api.http.post("/v1/me/phone", body=dumps({"code": f"phone:{phone}"}), headers=member_headers(token))
    assert bound.status_code == 200, bound.body
    return member_id


def _balance(member_id: str) -> int:
    return members_repo.get_member(member_id).balance


def _kinds(member_id: str) -> list[str]:
    return [entry.kind for entry in points_repo.iter_member_entries(member_id)]


# Listing members ---------------------------------------------------------------------------------


def test_ids_and_phones_grant_each_member_once_duplicates_collapsing(api: Api) -> None:
    # Given three members, one named by id twice and by phone, one by phone only
    _, ann = api.login("ann")
    bea = _member_with_phone(api, "bea", "13800001111")
    cid = _member_with_phone(api, "cid", "13800002222")
    lines = ["member_id", ann, "13800001111", f"  {cid}  ", '"+8613800002222"', ann, ""]

    # When alice grants 10 points to the list and the job runs
    created = _csv(api, lines)
    body = created.json_body
    waiting = _show(api, body["grant_id"]).json_body
    counts = _run()

    # Then each member has exactly one grant entry of 10, and the grant says so
    assert created.status_code == 202, created.body
    assert (body["status"], body["total"], body["total_points"], body["source"]) == ("running", 3, 30, "csv")
    assert (waiting["done"], waiting["chunks_done"]) == (0, 0)
    assert counts["items"] == 3
    done = _show(api, body["grant_id"]).json_body
    assert (done["status"], done["done"], done["failed"], done["failures"]) == ("done", 3, 0, [])
    assert done["finished_at"] is not None
    for member_id in (ann, bea, cid):
        assert (_balance(member_id), _kinds(member_id)) == (10, ["grant"])
    entry = points_repo.get_entry(rules.entry_id(body["grant_id"], ann))
    assert entry is not None and (entry.operator, entry.reason) == ("alice", "双十一补发")


def test_a_retried_request_is_the_same_grant_and_another_body_under_its_key_is_409(api: Api) -> None:
    _, ann = api.login("ann")
    first = _csv(api, [ann])
    _run()

    again = _csv(api, [ann])
    other = _csv(api, [ann], points=11)
    _run()

    assert again.json_body["grant_id"] == first.json_body["grant_id"]
    assert again.json_body["status"] == "done"
    assert other.status_code == 409 and other.json_body["error"]["fields"][0]["field"] == "Idempotency-Key"
    assert _balance(ann) == 10
    assert _csv(api, [ann], operator="bob").json_body["grant_id"] != first.json_body["grant_id"]  # bob's key space


def test_a_merged_member_stands_for_its_survivor_and_counts_once(api: Api) -> None:
    _, survivor = api.login("ann")
    _, merged = api.login("bea")
    MemberModel(merged).update(actions=[MemberModel.merged_into.set(survivor)])

    created = _csv(api, [merged, survivor]).json_body
    _run()

    assert created["total"] == 1
    assert (_balance(survivor), _balance(merged)) == (10, 0)
    assert _show(api, created["grant_id"]).json_body["done"] == 1


def test_every_bad_line_is_reported_with_its_line_and_column_and_nothing_is_stored(api: Api) -> None:
    _, ann = api.login("ann")
    lines = [ann, "", "not valid!", "+1234", "m_1,m_2", '"m_3', "x" * 65]

    refused = _csv(api, lines)

    assert refused.status_code == 400, refused.body
    fields = [(f["field"], bool(f["reason"])) for f in refused.json_body["error"]["fields"]]
    assert fields == [
        ("members_csv[3].member_id", True),
        ("members_csv[4].phone", True),
        ("members_csv[5].member_id", True),
        ("members_csv[6].member_id", True),
        ("members_csv[7].member_id", True),
    ]
    assert _show(api, rules.grant_id("alice", "g1")).status_code == 404
    assert list(GrantModel.scan()) == [] and list(GrantChunkModel.scan()) == []


def test_unknown_ids_and_phones_are_404_naming_their_lines(api: Api) -> None:
    _, ann = api.login("ann")

    refused = _csv(api, [ann, "m_nobody", "13999999999"])

    assert refused.status_code == 404, refused.body
    assert refused.json_body["error"]["code"] == "member_not_found"
    assert [f["field"] for f in refused.json_body["error"]["fields"]] == [
        "members_csv[2].member_id",
        "members_csv[3].phone",
    ]
    assert _balance(ann) == 0 and list(GrantModel.scan()) == []


def test_too_many_bad_lines_are_cut_with_a_count(api: Api) -> None:
    refused = _csv(api, ["bad!"] * 60)

    fields = refused.json_body["error"]["fields"]
    assert refused.status_code == 400 and len(fields) == rules.MAX_LINE_ERRORS + 1
    assert fields[-1] == {"field": "members_csv", "reason": "and 10 more lines"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"points": 0, "reason": "x", "members_csv": "m_1"}, "body"),
        ({"points": 10, "reason": "x"}, "body"),
        ({"points": 10, "reason": "x", "members_csv": "m_1", "audience": {}}, "body"),
        ({"points": 10, "reason": "x", "members_csv": ""}, "body"),
        ({"points": "10", "reason": "x", "members_csv": "m_1"}, "points"),
        ({"points": 10, "reason": "", "members_csv": "m_1"}, "reason"),
        ({"points": 10, "reason": "x", "members_csv": "m\n" * 4000}, "members_csv"),
        ({"points": 10, "reason": "x", "audience": {"tiers": ["nope"]}}, "audience.tiers"),
        ({"points": 10, "reason": "x", "members_csv": "m_1", "extra": 1}, "extra"),
    ],
)
def test_malformed_requests_are_400_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    refused = _grant(api, body)

    assert refused.status_code == 400, refused.body
    assert field in [f["field"] for f in refused.json_body["error"]["fields"]], refused.body


def test_idempotency_key_is_required_and_roles_are_checked(api: Api) -> None:
    _, ann = api.login("ann")
    body = dumps({"points": 10, "reason": "x", "members_csv": ann})

    missing = api.http.post(PATH, body=body, headers=operator_headers("alice"))
    auditor = api.http.post(PATH, body=body, headers={**operator_headers("erin"), "Idempotency-Key": "k"})
    created = _csv(api, [ann])

    assert missing.status_code == 400 and auditor.status_code == 403
    assert _show(api, created.json_body["grant_id"], operator="erin").status_code == 200  # points.read
    assert _show(api, "grt_nothing").status_code == 404


def test_an_audience_grants_its_members_and_skips_merged_ones(api: Api) -> None:
    ids = [api.login(name)[1] for name in ("ann", "bea", "cid")]
    MemberModel(ids[2]).update(actions=[MemberModel.merged_into.set(ids[0])])

    created = _grant(api, {"points": 5, "reason": "会员日", "audience": {"tiers": ["normal"]}})
    _run()

    assert created.status_code == 202, created.body
    assert (created.json_body["source"], created.json_body["total"]) == ("audience", 2)
    assert [_balance(m) for m in ids] == [5, 5, 0]
    assert _grant(api, {"points": 5, "reason": "x", "audience": {"tiers": ["gold"]}}, key="g2").status_code == 404


def test_the_grant_is_audited_with_a_summary_and_no_phone_number(api: Api) -> None:
    bea = _member_with_phone(api, "bea", "13800001111")

    created = _csv(api, ["13800001111"])
    grant_id = created.json_body["grant_id"]
    entries = api.http.get(f"/admin/audit?target=grant:{grant_id}", headers=operator_headers("erin")).json_body

    [entry] = entries["items"]
    assert (entry["operator"], entry["after"]["members"], entry["after"]["points"]) == ("alice", 1, 10)
    assert "13800001111" not in str(entry) and bea not in str(entry)


# Approval ----------------------------------------------------------------------------------------


def test_above_the_threshold_it_waits_for_a_second_operator_and_the_requester_cannot_approve(api: Api) -> None:
    # Given a grant of 2,000 points (threshold 1,000 per member)
    ids = [api.login(name)[1] for name in ("ann", "bea")]
    created = _csv(api, ids, points=2000).json_body
    _run()

    # When alice (the requester) and erin (an auditor) try to approve, and then bob does
    own, auditor = _approve(api, created["approval_id"], "alice"), _approve(api, created["approval_id"], "erin")
    waiting = _show(api, created["grant_id"]).json_body
    approved = [_approve(api, created["approval_id"]) for _ in range(2)]
    running = _show(api, created["grant_id"]).json_body
    _run()

    # Then nothing moves until bob approves, and then each member gets 2,000 once
    assert (created["status"], waiting["status"]) == ("pending_approval", "pending_approval")
    assert (own.status_code, auditor.status_code) == (403, 403)
    assert [r.status_code for r in approved] == [200, 200]
    assert (running["status"], running["approved_by"]) == ("running", "bob")
    assert [_balance(m) for m in ids] == [2000, 2000]
    assert [_kinds(m) for m in ids] == [["grant"], ["grant"]]
    assert _show(api, created["grant_id"]).json_body["status"] == "done"


def test_a_rejected_grant_reads_rejected_and_never_runs(api: Api) -> None:
    _, ann = api.login("ann")
    created = _csv(api, [ann], points=5000).json_body
    path = f"/admin/approvals/{created['approval_id']}/reject"

    rejected = api.http.post(path, body=dumps({"reason": "预算不足"}), headers=operator_headers("bob"))
    late = _approve(api, created["approval_id"], "carol")
    _run()

    shown = _show(api, created["grant_id"]).json_body
    assert rejected.status_code == 200 and late.status_code == 409
    assert (shown["status"], shown["rejected_by"], shown["rejection_reason"]) == ("rejected", "bob", "预算不足")
    assert _balance(ann) == 0


def test_the_operators_daily_total_counts_the_whole_grant(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.settings import get_settings

    monkeypatch.setenv("ADJUST_OPERATOR_DAILY_LIMIT", "25")
    get_settings.cache_clear()
    ids = [api.login(name)[1] for name in ("ann", "bea", "cid")]

    small = _csv(api, ids[:2], points=10, key="s").json_body  # 20 of 25
    over = _csv(api, ids[2:], points=10, key="o").json_body  # 30 of 25 with the first
    single = api.adjust(ids[2], 10, "single")  # the single adjustments share the day

    assert (small["status"], over["status"]) == ("running", "pending_approval")
    assert single.json_body["status"] == "pending"


def test_a_grant_cannot_be_split_around_the_per_member_window(api: Api) -> None:
    """The split attack: 1,000 by a single adjustment, then +1 in a bulk grant, same operator."""
    _, ann = api.login("ann")
    _, bea = api.login("bea")
    assert api.adjust(ann, 1000, "a1").json_body["status"] == "applied"

    split = _csv(api, [bea, ann], points=1).json_body
    bob = _csv(api, [bea, ann], points=1, operator="bob").json_body  # bob's own window
    _run()

    assert (split["status"], bob["status"]) == ("pending_approval", "running")
    assert (_balance(ann), _balance(bea)) == (1001, 1)
    # ...and a grant applied without approval counts into the window of the single adjustments
    assert api.adjust(bea, 1000, "b1", operator="bob").json_body["status"] == "pending"


# Progress and failures ---------------------------------------------------------------------------


def test_a_deduction_reports_members_with_too_few_points_and_the_others_continue(api: Api) -> None:
    ids = [api.login(name)[1] for name in ("ann", "bea", "cid")]
    for n, (member_id, points) in enumerate(zip(ids, (50, 5, 50), strict=True)):
        api.adjust(member_id, points, f"seed{n}", operator="dana")

    created = _csv(api, ids, points=-20).json_body
    _run()

    shown = _show(api, created["grant_id"]).json_body
    assert [_balance(m) for m in ids] == [30, 5, 30]
    assert (shown["status"], shown["total"], shown["done"], shown["failed"]) == ("done", 3, 2, 1)
    assert shown["failures"] == [{"member_id": ids[1], "reason": "insufficient_points", "line": 2}]
    assert shown["failed_by_reason"] == {"insufficient_points": 1}


def test_progress_moves_chunk_by_chunk_with_exact_totals(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "CHUNK_SIZE", 2)
    ids = [api.login(f"p{n}")[1] for n in range(5)]
    created = _csv(api, ids).json_body
    MemberModel(ids[3]).update(actions=[MemberModel.status.set("deleted")])  # closed after the list was made
    grant = grants_repo.get(created["grant_id"])
    assert grant is not None
    after_first = job.checkpoint(grant, job.run_chunk(grant, utc_now()), utc_now())
    partway = _show(api, created["grant_id"]).json_body
    _run()

    assert created["chunks"] == 3 and after_first is not None
    assert (partway["status"], partway["chunks_done"], partway["done"]) == ("running", 1, 2)
    done = _show(api, created["grant_id"]).json_body
    assert (done["status"], done["chunks_done"], done["done"], done["failed"]) == ("done", 3, 4, 1)
    assert done["failures"] == [{"member_id": ids[3], "reason": "member_deleted", "line": 4}]
    assert [_balance(m) for m in ids] == [10, 10, 10, 0, 10]


def test_members_gone_or_merged_since_the_list_was_made_are_reported(api: Api) -> None:
    ids = [api.login(name)[1] for name in ("ann", "bea", "cid")]
    created = _csv(api, ids).json_body
    MemberModel(ids[0]).delete()
    MemberModel(ids[1]).update(actions=[MemberModel.merged_into.set(ids[2])])

    _run()

    shown = _show(api, created["grant_id"]).json_body
    assert shown["failed_by_reason"] == {"member_not_found": 1, "member_merged": 1}
    assert _balance(ids[2]) == 10  # the survivor once, under its own key


def test_a_chunk_that_keeps_failing_fails_the_grant_after_three_runs(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _, ann = api.login("ann")
    created = _csv(api, [ann]).json_body

    def broken(*_args: Any) -> Any:
        raise KeyError("member_ids")

    monkeypatch.setattr(grants_repo, "chunk_targets", broken)
    statuses = []
    for _ in range(3):
        _run()
        statuses.append(_show(api, created["grant_id"]).json_body["status"])

    shown = _show(api, created["grant_id"]).json_body
    assert statuses == ["running", "running", "failed"]
    assert shown["error"] == "chunk 0: KeyError" and _balance(ann) == 0
    assert _run()["grants"] == 0  # no longer picked up
