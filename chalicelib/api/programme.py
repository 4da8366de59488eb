"""The programme as data (`/admin/programme`): read the one in force, publish a new version,
its history and what changed between two versions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import OPERATOR
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now
from chalicelib.domain.errors import InvalidInput

if TYPE_CHECKING:
    from chalicelib.api import schemas_programme as s
else:
    s = lazy_module("chalicelib.api.schemas_programme")

bp = Blueprint(__name__)


@route(
    bp,
    "/admin/programme",
    "GET",
    auth_kind=OPERATOR,
    permission="programme.read",
    tag="programme",
    summary="The programme in force (tiers, benefits, earning rules, points, check-in, referrals, gifts)",
    response="ProgrammeOut",
    errors=(401, 503),
)
def get_programme(call: Call) -> s.ProgrammeOut:
    from chalicelib.services import programme
    from chalicelib.store import programme_repo

    version, current = programme.current_with_version()
    stored = programme_repo.get(version) if version is not None else None
    return s.ProgrammeOut(
        version=version,
        created_at=stored.created_at if stored else None,
        created_by=stored.created_by if stored else None,
        note=stored.note if stored else None,
        programme=current,
    )


@route(
    bp,
    "/admin/programme",
    "PUT",
    auth_kind=OPERATOR,
    permission="programme.write",
    tag="programme",
    summary="Publish a new version (in force everywhere within PROGRAMME_CACHE_SECONDS); 409 if another came first",
    body="ProgrammeIn",
    response="ProgrammeOut",
    status=201,
    errors=(400, 401, 409, 503),
)
def put_programme(call: Call) -> s.ProgrammeOut:
    from chalicelib.services import programme
    from chalicelib.store import programme_repo

    body: s.ProgrammeIn = call.body
    version = programme.publish(body.programme, body.base_version, call.caller, utc_now(), body.note)
    stored = programme_repo.get(version)
    assert stored is not None
    return s.ProgrammeOut(
        version=version, created_at=stored.created_at, created_by=stored.created_by, note=stored.note,
        programme=body.programme,
    )  # fmt: skip


@route(
    bp,
    "/admin/programme/versions",
    "GET",
    auth_kind=OPERATOR,
    permission="programme.read",
    tag="programme",
    summary="Published versions, newest first",
    query="ProgrammeHistoryQuery",
    response="ProgrammeHistoryOut",
    errors=(400, 401, 503),
)
def history(call: Call) -> s.ProgrammeHistoryOut:
    from chalicelib.store import programme_repo

    query: s.ProgrammeHistoryQuery = call.query
    items = programme_repo.history(query.limit, query.before)
    return s.ProgrammeHistoryOut(
        items=[s.ProgrammeVersionOut(version=v.version, created_at=v.created_at, created_by=v.created_by, note=v.note)
               for v in items]
    )  # fmt: skip


@route(
    bp,
    "/admin/programme/diff",
    "GET",
    auth_kind=OPERATOR,
    permission="programme.read",
    tag="programme",
    summary="What changed from one version to another, leaf by leaf",
    query="ProgrammeDiffQuery",
    response="ProgrammeDiffOut",
    errors=(400, 401, 404, 503),
)
def diff(call: Call) -> s.ProgrammeDiffOut:
    from chalicelib.services import programme
    from chalicelib.store import programme_repo

    query: s.ProgrammeDiffQuery = call.query
    before, after = programme_repo.get(query.from_), programme_repo.get(query.to)
    for name, found in (("from", before), ("to", after)):
        if found is None:
            raise InvalidInput("no such version", field=name)
    assert before is not None and after is not None
    return s.ProgrammeDiffOut(
        changes=[s.ProgrammeChangeOut(**change) for change in programme.diff(before.document, after.document)]
    )
