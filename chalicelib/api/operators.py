"""The console's own routes: operator sign-in, operator accounts (admins) and the audit trail
(auditors)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import OPERATOR, PUBLIC
from chalicelib.api.routing import Call, lazy_module, request_id, route
from chalicelib.clock import utc_now
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.operators import Operator, OperatorStatus, Role

if TYPE_CHECKING:
    from chalicelib.api import schemas_admin as s
else:
    s = lazy_module("chalicelib.api.schemas_admin")

bp = Blueprint(__name__)

AUDIT_DEFAULT_DAYS = 90  # an unfiltered listing without `from` looks this far back
AUDIT_MAX_DAYS = 366 * 3


@route(
    bp,
    "/admin/auth/login",
    "POST",
    auth_kind=PUBLIC,
    tag="console",
    summary="Sign in with an operator id and password: a short-lived token carrying the role",
    body="OperatorLoginIn",
    response="OperatorTokenOut",
    errors=(400, 401, 503),
)
def login(call: Call) -> s.OperatorTokenOut:
    from chalicelib.services import operator_auth

    body: s.OperatorLoginIn = call.body
    found = request_id(bp).get("request_id")
    signed = operator_auth.login(body.operator_id, body.password, utc_now(), found or _new_request_id())
    return s.OperatorTokenOut(
        token=signed.token, expires_in=signed.expires_in, operator_id=signed.operator.operator_id,
        role=signed.operator.role,  # type: ignore[arg-type]
    )  # fmt: skip


@route(
    bp,
    "/admin/auth/logout",
    "POST",
    auth_kind=OPERATOR,
    permission="session.self",
    tag="console",
    summary="Sign out everywhere: every console token of the caller stops working",
    response="SessionOut",
    errors=(401, 503),
)
def logout(call: Call) -> s.SessionOut:
    from chalicelib.services import operators

    revoked = operators.revoke_sessions(call.caller, utc_now())
    return s.SessionOut(operator_id=revoked.operator_id, role=revoked.role, revoked=True)  # type: ignore[arg-type]


@route(
    bp,
    "/admin/auth/me",
    "GET",
    auth_kind=OPERATOR,
    permission="session.self",
    tag="console",
    summary="The signed-in operator",
    response="OperatorOut",
    errors=(401, 503),
)
def me(call: Call) -> s.OperatorOut:
    from chalicelib.store import operators_repo

    return _operator_out(operators_repo.require(call.caller))


@route(
    bp,
    "/admin/operators",
    "POST",
    auth_kind=OPERATOR,
    permission="operators.manage",
    tag="console",
    summary="Create an operator account (admin, operator or auditor)",
    body="OperatorIn",
    response="OperatorOut",
    status=201,
    errors=(400, 401, 409, 503),
)
def create_operator(call: Call) -> s.OperatorOut:
    from chalicelib.services import operators

    body: s.OperatorIn = call.body
    created = operators.create(
        body.operator_id, Role(body.role), body.display_name, body.password, call.caller, utc_now()
    )
    return _operator_out(created)


@route(
    bp,
    "/admin/operators",
    "GET",
    auth_kind=OPERATOR,
    permission="operators.read",
    tag="console",
    summary="Operator accounts",
    response="OperatorListOut",
    errors=(401, 503),
)
def list_operators(call: Call) -> s.OperatorListOut:
    from chalicelib.store import operators_repo

    return s.OperatorListOut(items=[_operator_out(o) for o in operators_repo.list_all()])


@route(
    bp,
    "/admin/operators/{operator_id}",
    "PATCH",
    auth_kind=OPERATOR,
    permission="operators.manage",
    tag="console",
    summary="Change an operator's role, name or password, or disable the account (ends its tokens)",
    body="OperatorPatch",
    response="OperatorOut",
    errors=(400, 401, 404, 503),
)
def update_operator(call: Call) -> s.OperatorOut:
    from chalicelib.services import operators

    body: s.OperatorPatch = call.body
    updated = operators.update(
        call.path["operator_id"],
        call.caller,
        utc_now(),
        role=Role(body.role) if body.role else None,
        status=OperatorStatus(body.status) if body.status else None,
        display_name=body.display_name,
        password=body.password,
        wecom_userid=body.wecom_userid,
    )
    return _operator_out(updated)


@route(
    bp,
    "/admin/operators/{operator_id}/keys",
    "POST",
    auth_kind=OPERATOR,
    permission="operators.manage",
    tag="console",
    summary="Issue a script key (X-Operator-Key), shown once",
    response="OperatorKeyOut",
    status=201,
    errors=(401, 404, 503),
)
def issue_key(call: Call) -> s.OperatorKeyOut:
    from chalicelib.services import operators

    issued = operators.issue_key(call.path["operator_id"], utc_now())
    return s.OperatorKeyOut(operator_id=call.path["operator_id"], key_id=issued.key_id, key=issued.key)


@route(
    bp,
    "/admin/operators/{operator_id}/keys/{key_id}",
    "DELETE",
    auth_kind=OPERATOR,
    permission="operators.manage",
    tag="console",
    summary="Withdraw a script key",
    response="OperatorOut",
    errors=(401, 404, 503),
)
def withdraw_key(call: Call) -> s.OperatorOut:
    from chalicelib.services import operators
    from chalicelib.store import operators_repo

    operators.withdraw_key(call.path["operator_id"], call.path["key_id"], utc_now())
    return _operator_out(operators_repo.require(call.path["operator_id"]))


@route(
    bp,
    "/admin/operators/{operator_id}/sessions/revoke",
    "POST",
    auth_kind=OPERATOR,
    permission="operators.manage",
    tag="console",
    summary="End every console token of an operator",
    response="OperatorOut",
    errors=(401, 404, 503),
)
def revoke_sessions(call: Call) -> s.OperatorOut:
    from chalicelib.services import operators

    return _operator_out(operators.revoke_sessions(call.path["operator_id"], utc_now()))


@route(
    bp,
    "/admin/audit",
    "GET",
    auth_kind=OPERATOR,
    permission="audit.read",
    tag="console",
    summary="The audit trail, newest first: by target, by operator, or everything in a time range",
    query="AuditQuery",
    response="AuditPageOut",
    errors=(400, 401, 503),
)
def audit(call: Call) -> s.AuditPageOut:
    from chalicelib.store import audit_repo

    query: s.AuditQuery = call.query
    end = query.to or utc_now()
    start = query.from_ or end - timedelta(days=AUDIT_DEFAULT_DAYS)
    if start > end:
        raise InvalidInput("from is after to", field="from")
    if end - start > timedelta(days=AUDIT_MAX_DAYS):
        raise InvalidInput(f"a range of at most {AUDIT_MAX_DAYS} days", field="from")
    page = audit_repo.query(
        target=query.target, operator=query.operator, start=start, end=end, limit=query.limit, cursor=query.cursor
    )
    items = [s.AuditEntryOut(**vars(entry)) for entry in page.entries]
    return s.AuditPageOut(items=items, next_cursor=page.cursor)


def _operator_out(operator: Operator) -> s.OperatorOut:
    return s.OperatorOut(
        operator_id=operator.operator_id,
        role=operator.role,  # type: ignore[arg-type]
        display_name=operator.display_name,
        status=operator.status,  # type: ignore[arg-type]
        has_password=operator.password_hash is not None,
        key_ids=sorted(operator.key_hashes),
        created_at=operator.created_at,
        created_by=operator.created_by,
        wecom_userid=operator.wecom_userid,
    )


def _new_request_id() -> str:
    import uuid

    return uuid.uuid4().hex
