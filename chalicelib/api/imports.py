"""The member import (会员导入): a legacy system's members with their opening points, from a CSV
in a JSON body, synchronously (the CLI takes files of any size: `python -m chalicelib.cli
import members FILE`). Through this route a line carries at most ADJUST_APPROVAL_THRESHOLD
opening points, what one operator may grant alone (services/imports.py `_capped`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint, Response

from chalicelib.api.auth import OPERATOR
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now

if TYPE_CHECKING:
    from chalicelib.api import schemas_imports as s
    from chalicelib.domain.imports_plan import ImportReport
else:
    s = lazy_module("chalicelib.api.schemas_imports")

bp = Blueprint(__name__)

# What one request does well within the API function's 10 s (.chalice/config.json; API Gateway
# waits 29 s): a dry run reads ~3 BatchGetItems per 100 lines, an import writes one transaction
# per member (~15 ms each, 8 at a time). Cut off mid-way, an import leaves each member whole and
# the same request again finishes it.
MAX_DRY_RUN_ROWS = 20_000
MAX_IMPORT_ROWS = 2_000
WORKERS = 8
ERRORS_SHOWN = 1_000  # in a report
FIELDS_SHOWN = 100  # in a refusal


@route(
    bp,
    "/admin/imports/members",
    "POST",
    auth_kind=OPERATOR,
    permission="members.write",
    tag="admin",
    summary=f"Import members from a legacy system (CSV): a dry run (default) reports every bad line; "
    f"dry_run=false writes a clean file (up to {MAX_IMPORT_ROWS} lines) idempotently; a line's opening points "
    "at most ADJUST_APPROVAL_THRESHOLD (larger: the CLI)",
    body="ImportMembersIn",
    query="ImportMembersQuery",
    response="ImportMembersOut",
    errors=(400, 401, 503),
    max_body_bytes=6 * 1024 * 1024,  # schemas_imports.MAX_BODY_BYTES (not imported: it loads pydantic)
)
def import_members(call: Call) -> s.ImportMembersOut | Response:
    from chalicelib.services import imports
    from chalicelib.settings import get_settings

    body: s.ImportMembersIn = call.body
    query: s.ImportMembersQuery = call.query
    options = imports.Options(
        dry_run=query.dry_run,
        skip_invalid=query.skip_invalid,
        operator=call.caller,
        workers=WORKERS,
        max_rows=MAX_DRY_RUN_ROWS if query.dry_run else MAX_IMPORT_ROWS,
        max_line_points=get_settings().adjust_approval_threshold,
    )
    report = imports.import_members(body.csv, utc_now(), options)
    if not report.dry_run and not report.written:
        return _refused(report)
    return out(report)


def out(report: ImportReport) -> s.ImportMembersOut:
    errors = [s.ImportLineErrorOut(line=e.line, field=e.field, reason=e.reason) for e in report.errors[:ERRORS_SHOWN]]
    return s.ImportMembersOut(
        dry_run=report.dry_run,
        written=report.written,
        rows=report.rows,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        failed=report.failed,
        points=report.points,
        lots=report.lots,
        file_sha256=report.file_sha256,
        errors=errors,
        errors_total=len(report.errors),
    )


def _refused(report: ImportReport) -> Response:
    """400 naming each bad line's cell (`csv[<line>].<column>`); nothing was written."""
    from chalicelib.api.errors import error_response

    shown = report.errors[:FIELDS_SHOWN]
    fields = [{"field": f"csv[{error.line}].{error.field}", "reason": error.reason} for error in shown]
    if len(report.errors) > len(shown):
        fields.append({"field": "csv", "reason": f"and {len(report.errors) - len(shown)} more; a dry run lists all"})
    return error_response(400, "invalid_request", fields)
