"""Member import from a legacy system (会员导入): every bad line reported by a dry run that writes
nothing; an import that creates or updates each member once, with its opening points as lots
keeping their own expiry dates and one ledger entry; a re-import that changes nothing; phone
conflicts reported, never merged; the admin route and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib import clock
from chalicelib.api.imports import MAX_IMPORT_ROWS
from chalicelib.cli import main
from chalicelib.clock import utc_now
from chalicelib.domain.imports_plan import ImportReport, legacy_alias, new_member_id
from chalicelib.services import imports, points_expiry, reconcile
from chalicelib.store import members_repo, points_repo
from chalicelib.store.models import AuditModel, IdentityModel, LedgerEntryModel, MemberModel, PointsLotModel
from tests.bench.counting import count_dynamodb
from tests.support.api import SHANGHAI, Api, dumps, member_headers, operator_headers

HEADER = "external_id,phone,name,birthday,tier,growth,points"
PATH = "/admin/imports/members"

# The lots and birthdays below are written out (500@2027-06-30): these tests pin the clock to
# the day they were written for, whatever WXM_TEST_NOW says (the import's own date rules are
# relative to the clock, which the other modules exercise on any date).
WRITTEN_FOR = datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(autouse=True)
def pinned_clock() -> Iterator[datetime]:
    from chalicelib import clock

    clock.pin(WRITTEN_FOR)
    try:
        yield WRITTEN_FOR
    finally:
        clock.unpin()


ANN = "L-1,13800000001,张三,1990-01-02,gold,100,500@2027-06-30;200@2027-12-31"
BEN = "L-2,13800000002,,,,,"
CID = "L-3,+8613800000003,李四,,,3500,50@2027-01-31;25@2027-01-31"


def _csv(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


def _import(text: str, *, dry_run: bool = False, **options: Any) -> ImportReport:
    return imports.import_members(text, utc_now(), imports.Options(dry_run=dry_run, workers=3, **options))


def _errors(report: ImportReport) -> set[tuple[int, str]]:
    return {(error.line, error.field) for error in report.errors}


def _counts() -> dict[str, int]:
    models = {"members": MemberModel, "identities": IdentityModel, "ledger": LedgerEntryModel, "lots": PointsLotModel}
    return {name: sum(1 for _ in model.scan()) for name, model in models.items()}


def _member(external_id: str) -> Any:
    owner = members_repo.find_member_ids([legacy_alias(external_id)])[legacy_alias(external_id)]
    return members_repo.get_live_member(owner)


def _lots(member_id: str) -> list[tuple[str, int]]:
    return [(lot.expires_on.isoformat(), lot.remaining) for lot in points_repo.load_lots(member_id)]


def _login_with_phone(api: Api, name: str, phone: str) -> tuple[str, str]:
    token, member_id = api.login(name)
    bound = api.http.post("/v1/me/phone", body=dumps({"code": f"phone:{phone}"}), headers=member_headers(token))
    assert bound.status_code == 200, bound.body
    return token, member_id


# The dry run -----------------------------------------------------------------------------------


BAD_LINES = {
    3: (",13800000003,,,,,", "external_id"),
    4: ("bad id!,13800000004,,,,,", "external_id"),
    5: ("E5,12ab,,,,,", "phone"),
    6: ("E6,,,,,,", "phone"),
    7: ("E7,13800000007," + "名" * 33 + ",,,,", "name"),
    8: ("E8,13800000008,,2027-02-30,,,", "birthday"),
    9: ("E9,13800000009,,1990/01/02,,,", "birthday"),
    10: ("E10,13800000010,,2030-01-01,,,", "birthday"),
    11: ("E11,13800000011,,,diamond,,", "tier"),
    12: ("E12,13800000012,,,,-5,", "growth"),
    13: ("E13,13800000013,,,,1.5,", "growth"),
    14: ("E14,13800000014,,,,,500", "points"),
    15: ("E15,13800000015,,,,,0@2027-06-30", "points"),
    16: ("E16,13800000016,,,,,5@2027-13-01", "points"),
    17: ("E17,13800000017,,,,,5@2045-01-01", "points"),
    18: ("E18,13800000018,,,,,5@2026-11-21", "points"),  # the day before the pinned clock's: expired
    19: ("D1,13800000019,,,,,", "external_id"),
    20: ("D1,13800000020,,,,,", "external_id"),
    21: ("E21,13800000021,,,,,", "phone"),
    22: ("E22,+8613800000021,,,,,", "phone"),  # the same number as line 21
    23: ("E23,13800000023,,", "row"),
    24: ("E24,13800000024,a\tb,,,,", "name"),
}


def test_a_dry_run_reports_every_bad_line_with_its_field_and_writes_nothing(tables: None) -> None:
    # Given a file with one good line and a bad line of each kind
    text = _csv(ANN, *(line for line, _ in BAD_LINES.values()))
    before = _counts()

    # When it is checked
    with count_dynamodb() as tally:
        report = _import(text, dry_run=True)

    # Then each bad line is named with its field, the totals say what would happen, nothing was written
    assert _errors(report) == {(line, field) for line, (_, field) in BAD_LINES.items()}
    assert (report.rows, report.created, report.updated, report.unchanged) == (23, 1, 0, 0)
    assert (report.failed, report.points, report.lots, report.written) == (22, 700, 2, False)
    reasons = {error.line: error.reason for error in report.errors}
    assert "also on line(s) 20" in reasons[19] and "not a date of the calendar" in reasons[8]
    assert "unknown tier 'diamond'" in reasons[11] and "past its date" in reasons[18]
    assert not any(secret in error.reason for error in report.errors for secret in ("12ab", "1990/01/02", "2030"))
    assert _counts() == before
    assert not {"TransactWriteItems", "PutItem", "UpdateItem", "BatchWriteItem"} & set(tally.requests)


def test_a_real_import_of_a_file_with_a_bad_line_writes_nothing(tables: None) -> None:
    report = _import(_csv(ANN, BEN, "E9,13800000009,,1990/01/02,,,"))

    assert (report.written, _errors(report)) == (False, {(4, "birthday")})
    assert _counts()["members"] == 0


def test_a_bad_header_refuses_the_file_even_with_skip_invalid(tables: None) -> None:
    text = "external_id,phone,name,birthdy,tier,growth\n" + BEN + "\n"

    report = _import(text, skip_invalid=True)

    assert report.written is False
    assert [(e.line, e.field) for e in report.errors] == [(1, "header"), (1, "header"), (1, "header")]
    assert {e.reason for e in report.errors} == {
        "unknown column 'birthdy'",
        "missing column 'birthday'",
        "missing column 'points'",
    }
    assert _counts()["members"] == 0


def test_line_numbers_are_the_files_own_with_a_bom_and_a_cell_on_two_lines(tables: None) -> None:
    text = "\ufeff" + HEADER + "\r\n" + 'E2,13800000002,"张\n三",,,,\r\n\r\nE5,12ab,,,,,\r\n'

    report = _import(text, dry_run=True)

    assert _errors(report) == {(2, "name"), (5, "phone")}
    assert report.rows == 2


def test_skip_invalid_writes_the_good_lines_and_reports_the_bad(tables: None) -> None:
    report = _import(_csv(ANN, "E9,13800000009,,1990/01/02,,,", BEN), skip_invalid=True)

    assert (report.written, report.created, report.failed, _errors(report)) == (True, 2, 1, {(3, "birthday")})
    assert _counts()["members"] == 2


# Import, re-import ---------------------------------------------------------------------------------


def test_an_import_creates_members_with_their_lots_and_one_entry_and_reimporting_changes_nothing(
    tables: None,
) -> None:
    # Given a clean file of three legacy members
    text = _csv(ANN, BEN, CID)

    # When it is imported, then imported again
    first = _import(text)
    after_first = _counts()
    with count_dynamodb() as tally:
        again = _import(text)

    # Then three members exist with their profile, tier, growth, lots and one import entry each
    assert (first.created, first.updated, first.points, first.lots, first.errors) == (3, 0, 775, 3, [])
    ann = _member("L-1")
    assert ann.member_id == new_member_id("L-1")
    assert (ann.nickname, ann.birthday.isoformat(), ann.tier_code, ann.growth) == ("张三", "1990-01-02", "gold", 100)
    assert (ann.balance, ann.phone_masked) == (700, "138****0001")
    assert _lots(ann.member_id) == [("2027-06-30", 500), ("2027-12-31", 200)]
    cid = _member("L-3")
    assert (cid.tier_code, cid.balance, _lots(cid.member_id)) == ("silver", 75, [("2027-01-31", 75)])
    assert _member("L-2").balance == 0 and _lots(_member("L-2").member_id) == []
    entries = list(points_repo.iter_member_entries(ann.member_id))
    assert [(e.entry_id, e.kind, e.delta, e.balance_after) for e in entries] == [("import:L-1", "import", 700, 700)]
    assert after_first == {"members": 3, "identities": 9, "ledger": 3, "lots": 3}
    # And the phone is stored as the member service stores it: encrypted, found by its keyed hash
    stored = MemberModel.get(ann.member_id)
    assert stored.phone_enc and "13800000001" not in stored.phone_enc and stored.phone_hash == ann.phone_hash

    # And the second run found everything in place and wrote nothing
    assert (again.created, again.updated, again.unchanged, again.points, again.errors) == (0, 0, 3, 0, [])
    assert _counts() == after_first
    assert not {"TransactWriteItems", "PutItem", "UpdateItem", "BatchWriteItem"} & set(tally.requests)
    assert list(reconcile.reconcile()) == []


def test_imported_lots_keep_their_expiry_dates_and_expire_on_them(tables: None) -> None:
    _import(_csv(ANN))
    ann = _member("L-1")

    # When the expiry runs on the day after the first lot's last day (Shanghai)
    points_expiry.expire(ann.member_id, datetime(2027, 7, 1, 0, 10, tzinfo=SHANGHAI))

    # Then only that lot went, and the books still balance
    assert _lots(ann.member_id) == [("2027-12-31", 200)]
    assert members_repo.get_member(ann.member_id).balance == 200
    assert list(reconcile.reconcile([ann.member_id])) == []


def test_a_line_imported_before_stays_unchanged_after_its_lot_expired(tables: None) -> None:
    _import(_csv(CID))
    clock.pin(datetime(2027, 3, 1, 10, 0, tzinfo=SHANGHAI))  # the lot of Jan 31 is past its date

    again = _import(_csv(CID))
    fresh = _import(_csv(CID.replace("L-3", "L-9").replace("03,", "09,")), dry_run=True)

    assert (again.unchanged, again.errors) == (1, [])
    assert _errors(fresh) == {(2, "points")}


def test_changed_opening_values_are_a_conflict_line_never_a_second_entry(tables: None) -> None:
    _import(_csv(ANN))

    report = _import(_csv(ANN.replace("500@", "900@")))

    assert (report.written, _errors(report)) == (False, {(2, "points")})
    assert "imported before with other points" in report.errors[0].reason
    assert _counts()["ledger"] == 1 and _member("L-1").balance == 700


def test_a_reimport_fills_profile_gaps_but_keeps_what_the_member_has(tables: None) -> None:
    _import(_csv(BEN, "L-4,13800000004,原名,,,,"))
    members_repo.update_profile(_member("L-4").member_id, "会员自己改的", None, None)

    report = _import(_csv("L-2,13800000002,王五,1985-05-05,,,", "L-4,13800000004,新名,,,,"))

    assert (report.updated, report.unchanged, report.errors) == (1, 1, [])
    ben = _member("L-2")
    assert (ben.nickname, ben.birthday.isoformat(), ben.balance) == ("王五", "1985-05-05", 0)
    assert _member("L-4").nickname == "会员自己改的"
    assert _counts()["ledger"] == 2


# Existing members and conflicts -------------------------------------------------------------------


def test_a_member_found_by_phone_gets_the_legacy_account_once(api: Api) -> None:
    # Given a mini-program member with 13800000001 bound and a tier below the legacy one
    token, member_id = _login_with_phone(api, "ann", "13800000001")

    # When the legacy file names that phone, twice
    first = _import(_csv(ANN))
    again = _import(_csv(ANN))

    # Then the member got the lots, growth, tier and name once; the legacy id now finds it
    assert (first.created, first.updated, again.unchanged) == (0, 1, 1)
    member = members_repo.get_member(member_id)
    assert (member.balance, member.growth, member.tier_code, member.nickname) == (700, 100, "gold", "张三")
    assert _member("L-1").member_id == member_id
    assert _lots(member_id) == [("2027-06-30", 500), ("2027-12-31", 200)]
    ledger = api.http.get("/v1/me/points/ledger", headers=member_headers(token))
    assert ledger.status_code == 200, ledger.body
    assert [(e["kind"], e["points"]) for e in ledger.json_body["items"]] == [("import", 700)]
    assert list(reconcile.reconcile([member_id])) == []


def test_a_phone_bound_to_another_member_than_the_legacy_ids_is_a_conflict_not_a_merge(api: Api) -> None:
    # Given L-1 imported with one phone, and another member holding 13800000099
    _import(_csv(ANN))
    _, other = _login_with_phone(api, "bob", "13800000099")

    # When a later file gives L-1 that other member's phone
    report = _import(_csv(ANN.replace("13800000001", "13800000099")))

    # Then the line is a conflict naming the phone; nobody was merged or changed
    assert (report.written, _errors(report)) == (False, {(2, "phone")})
    assert other in report.errors[0].reason
    assert members_repo.get_member(other).merged_into is None and members_repo.get_member(other).balance == 0


def test_a_second_legacy_account_on_the_same_phone_is_a_conflict(tables: None) -> None:
    _import(_csv(ANN))

    report = _import(_csv("L-77,13800000001,,,,,10@2027-06-30"))

    assert (report.written, _errors(report)) == (False, {(2, "phone")})
    assert "imported under another external_id" in report.errors[0].reason
    assert _member("L-1").balance == 700 and _counts()["ledger"] == 1


def test_an_imported_member_claimed_by_a_wechat_login_is_not_imported_twice(api: Api) -> None:
    # Given an imported member, claimed by the mini-program user who binds its phone (a merge)
    _import(_csv(ANN))
    _, wechat_member = _login_with_phone(api, "ann", "13800000001")
    assert _member("L-1").member_id == wechat_member

    # When the same file is imported again
    report = _import(_csv(ANN))

    # Then nothing is added to the survivor
    assert (report.unchanged, report.errors) == (1, [])
    assert members_repo.get_member(wechat_member).balance == 700
    assert list(reconcile.reconcile()) == []


def test_a_closed_account_is_never_brought_back_by_a_reimport(tables: None) -> None:
    from chalicelib.services.privacy_deletion import delete_member

    _import(_csv(ANN))
    member_id = _member("L-1").member_id
    delete_member(member_id, "dana", utc_now(), reason="PIPL request")
    before = _counts()

    report = _import(_csv(ANN))

    assert (report.unchanged, report.created, report.errors) == (1, 0, [])
    assert _counts() == before
    assert members_repo.get_member(member_id).closed and members_repo.get_member(member_id).balance == 0


def test_concurrent_imports_of_one_file_create_each_member_once(tables: None) -> None:
    text = _csv(*(f"C-{n},1390000{n:04d},,,,,{n + 1}@2027-06-30" for n in range(40)))
    reports: list[ImportReport] = []

    def run() -> None:
        reports.append(_import(text))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.created for r in reports) and sum(r.created for r in reports) == 40
    assert all(r.errors == [] for r in reports)
    assert _counts() == {"members": 40, "identities": 120, "ledger": 40, "lots": 40}
    assert list(reconcile.reconcile()) == []


def test_two_legacy_accounts_racing_for_one_phone_leave_one_owner(tables: None) -> None:
    barrier = threading.Barrier(2)
    reports: list[ImportReport] = []

    def run(external_id: str) -> None:
        barrier.wait()
        reports.append(_import(_csv(f"{external_id},13800000055,,,,,10@2027-06-30")))

    threads = [threading.Thread(target=run, args=(name,)) for name in ("R-1", "R-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.created for r in reports) == [0, 1]
    assert sum(len(r.errors) for r in reports) == 1
    assert _counts()["ledger"] == 1 and _counts()["members"] == 1


def test_two_legacy_accounts_racing_for_one_existing_members_phone_attach_once(api: Api) -> None:
    _, member_id = _login_with_phone(api, "ann", "13800000066")
    barrier = threading.Barrier(2)
    reports: list[ImportReport] = []

    def run(external_id: str) -> None:
        barrier.wait()
        reports.append(_import(_csv(f"{external_id},13800000066,,,,,10@2027-06-30")))

    threads = [threading.Thread(target=run, args=(name,)) for name in ("R-1", "R-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.updated for r in reports) == [0, 1]
    assert [e.field for r in reports for e in r.errors] == ["phone"]
    assert members_repo.get_member(member_id).balance == 10
    assert [e.kind for e in points_repo.iter_member_entries(member_id)] == ["import"]


# The admin route ----------------------------------------------------------------------------------


def _post(api: Api, text: Any, query: str = "", operator: str = "alice") -> Any:
    body = dumps({"csv": text}) if not isinstance(text, bytes) else text
    return api.http.post(PATH + query, body=body, headers=operator_headers(operator))


def test_the_route_dry_runs_by_default_and_reports_bad_lines(api: Api) -> None:
    response = _post(api, _csv(ANN, "E11,13800000011,,,diamond,,"))

    assert response.status_code == 200, response.body
    body = response.json_body
    assert (body["dry_run"], body["written"], body["created"], body["failed"]) == (True, False, 1, 1)
    assert body["errors"] == [{"line": 3, "field": "tier", "reason": body["errors"][0]["reason"]}]
    assert _counts()["members"] == 0 and sum(1 for _ in AuditModel.scan()) == 0


def test_the_route_imports_a_clean_file_with_one_audit_entry(api: Api) -> None:
    text = _csv(ANN, BEN, CID, *(f"B-{n},1370000{n:04d},会员{n}号,1990-01-02,silver,10," for n in range(300)))
    assert len(dumps({"csv": text})) > 16 * 1024  # above every other route's limit

    response = _post(api, text, "?dry_run=false", operator="dana")

    assert response.status_code == 200, response.body
    assert (response.json_body["created"], response.json_body["written"]) == (303, True)
    audit = list(AuditModel.scan())
    assert len(audit) == 1
    assert (audit[0].operator, audit[0].action, audit[0].target[:7]) == ("dana", f"POST {PATH}", "import:")
    assert (audit[0].after["created"], audit[0].after["points"], audit[0].after["rows"]) == (303, 775, 303)
    again = _post(api, text, "?dry_run=false")
    assert (again.status_code, again.json_body["unchanged"]) == (200, 303)
    assert sum(1 for _ in AuditModel.scan()) == 1  # nothing written, nothing audited


def test_the_route_refuses_a_file_with_bad_lines_naming_each_cell(api: Api) -> None:
    response = _post(api, _csv(ANN, "E5,12ab,,,,,", "E8,13800000008,,2027-02-30,,,"), "?dry_run=false")

    assert response.status_code == 400
    fields = [f["field"] for f in response.json_body["error"]["fields"]]
    assert fields == ["csv[3].phone", "csv[4].birthday"]
    assert _counts()["members"] == 0 and sum(1 for _ in AuditModel.scan()) == 0


@pytest.mark.parametrize(
    ("body", "query", "field"),
    [
        (dumps({"csv": 42}), "", "csv"),
        (dumps({"csv": ""}), "", "csv"),
        (dumps({"csv": "x", "extra": 1}), "", "extra"),
        (dumps({"csv": HEADER}), "?dry_run=maybe", "dry_run"),
        (dumps({"csv": HEADER}), "?limit=5", "limit"),
    ],
)
def test_the_route_answers_malformed_requests_with_400_naming_the_field(
    api: Api, body: bytes, query: str, field: str
) -> None:
    response = _post(api, body, query)

    assert response.status_code == 400, response.body
    assert field in [f["field"] for f in response.json_body["error"]["fields"]]


def test_the_route_limits_rows_and_body_size(api: Api) -> None:
    many = _csv(*(f"M-{n},136{n:08d},,,,," for n in range(MAX_IMPORT_ROWS + 1)))

    too_many = _post(api, many, "?dry_run=false")
    huge = _post(api, "x" * (6 * 1024 * 1024 + 1))

    assert too_many.status_code == 400 and too_many.json_body["error"]["fields"][0]["field"] == "csv"
    assert huge.status_code == 413
    assert _counts()["members"] == 0


def test_through_the_route_a_line_carries_no_more_points_than_one_operator_may_grant(
    api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a line of 1,001 points (ADJUST_APPROVAL_THRESHOLD is 1,000 in the tests)
    text = _csv(ANN, "L-5,13800000005,,,,,1001@2027-06-30")

    # When an operator checks and imports it through the API, then through the CLI
    checked = _post(api, text)
    refused = _post(api, text, "?dry_run=false&skip_invalid=true")
    source = tmp_path / "big.csv"
    source.write_text(text, encoding="utf-8")
    status = main(["import", "members", str(source)])

    # Then the API names the line and writes only the small one; the CLI imports the rest
    assert [(e["line"], e["field"]) for e in checked.json_body["errors"]] == [(3, "points")]
    assert "one operator may grant alone" in checked.json_body["errors"][0]["reason"]
    assert (refused.status_code, refused.json_body["created"], refused.json_body["failed"]) == (200, 1, 1)
    assert status == 0 and json.loads(capsys.readouterr().out.splitlines()[0])["created"] == 1
    assert _member("L-5").balance == 1001


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (HEADER + "\nL-1,138\x0000001,,,,,\n", "phone"),
        (HEADER + '\nL-1,13800000001,"open,,,,,\n', "file"),
        (HEADER + "\nL-1,13800000001," + "长" * 200_000 + ",,,,\n", "file"),
        (HEADER + "\nL-1,13800000001," + "长" * 2_000 + ",,,,\n", "name"),
        (",".join(f"c{n}" for n in range(5_000)) + "\n1,2\n", "header"),
        (HEADER + "\n" + "L-1,13800000001,,,,,1@2027-01-01;" * 500 + "\n", "row"),
    ],
    ids=["nul", "open-quote", "cell-over-csv-limit", "long-cell", "5000-columns", "row-of-many-cells"],
)
def test_hostile_csv_is_reported_never_a_500(api: Api, text: str, field: str) -> None:
    response = _post(api, text)

    assert response.status_code == 200, response.body
    assert field in {e["field"] for e in response.json_body["errors"]}
    assert _post(api, text, "?dry_run=false").status_code == 400
    assert _counts()["members"] == 0


@pytest.mark.parametrize(("operator", "status"), [("erin", 403), (None, 401)])
def test_only_operators_and_admins_may_import(api: Api, operator: str | None, status: int) -> None:
    headers = operator_headers(operator) if operator else {"Content-Type": "application/json"}

    response = api.http.post(PATH + "?dry_run=false", body=dumps({"csv": _csv(ANN)}), headers=headers)

    assert response.status_code == status
    assert _counts()["members"] == 0


# The CLI ----------------------------------------------------------------------------------------


def test_the_cli_dry_run_reports_and_writes_the_error_file(
    tables: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "legacy.csv"
    source.write_text(_csv(ANN, "E5,12ab,,,,,", "E6,,,,,,"), encoding="utf-8-sig")

    status = main(["import", "members", str(source), "--dry-run", "--show", "1"])

    out = capsys.readouterr().out.splitlines()
    assert status == 1
    totals = json.loads(out[0])
    assert (totals["dry_run"], totals["created"], totals["failed"], totals["errors"]) == (True, 1, 2, 2)
    assert out[1].startswith("line 3 phone:") and out[-1].endswith("legacy.csv.errors.csv")
    written = (tmp_path / "legacy.csv.errors.csv").read_text(encoding="utf-8").splitlines()
    assert written[0] == "line,field,reason" and [row.split(",")[:2] for row in written[1:]] == [
        ["3", "phone"],
        ["4", "phone"],
    ]
    assert _counts()["members"] == 0


def test_the_cli_imports_once_and_is_audited(tables: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "legacy.csv"
    source.write_text(_csv(ANN, BEN), encoding="utf-8")

    first = main(["import", "members", str(source), "--workers", "2"])
    second = main(["import", "members", str(source)])

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (first, second) == (0, 0)
    assert [(t["created"], t["unchanged"], t["written"]) for t in lines] == [(2, 0, True), (0, 2, True)]
    audit = list(AuditModel.scan())
    assert len(audit) == 1 and audit[0].operator.startswith("cli") and audit[0].after["created"] == 2


def test_the_cli_refuses_a_missing_file_and_a_file_not_in_utf8(
    tables: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes((HEADER + "\nL-1,13800000001,Jos\xe9,,,,\n").encode("latin-1"))

    missing = main(["import", "members", str(tmp_path / "nope.csv")])
    assert (missing, "no file") == (2, capsys.readouterr().err.split(": ")[1][:7])
    status = main(["import", "members", str(latin)])

    assert status == 1 and "line 2 is not UTF-8" in capsys.readouterr().err


def test_the_cli_with_aws_unreachable_says_so_in_one_line_and_exits_1(tmp_path: Path) -> None:
    source = tmp_path / "legacy.csv"
    source.write_text(_csv(ANN), encoding="utf-8")
    env = {**os.environ, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens there

    ran = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "import", "members", str(source), "--dry-run"],
        env=env, cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert ran.returncode == 1, ran.stderr
    [line] = ran.stderr.strip().splitlines()
    assert "cannot reach DynamoDB/SQS at http://127.0.0.1:9" in line


def test_the_cli_prints_every_error_with_errors(
    tables: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "legacy.csv"
    source.write_text(_csv(*(f"E{n},12ab,,,,," for n in range(30))), encoding="utf-8")

    status = main(["import", "members", str(source), "--dry-run", "--errors"])

    out = capsys.readouterr().out.splitlines()
    assert status == 1 and len([line for line in out if line.startswith("line ")]) == 30
    assert not (tmp_path / "legacy.csv.errors.csv").exists()


def test_the_pinned_clock_is_what_the_import_dates_by(tables: None) -> None:
    """Entries are dated by the clock module (never the wall clock)."""
    _import(_csv(BEN))
    entry = points_repo.get_entry("import:L-2")
    assert entry is not None
    assert abs(datetime.fromisoformat(entry.created_at) - utc_now()) < timedelta(minutes=1)
