"""Every role × every admin route: allowed (the request gets past authorisation: any answer
but 401/403) or refused with 403 `role_forbidden`; no credentials at all is 401. The table
walked is the router's own (`routing.ROUTES`), so a new route is in the matrix the day it
is declared, and the OpenAPI document shows the same roles."""

from __future__ import annotations

import re
from typing import Any

import pytest

from chalicelib.api import docs_rules
from chalicelib.api.routing import ROUTES, RouteSpec
from chalicelib.clock import utc_now
from chalicelib.domain.operators import Role
from chalicelib.security.tokens import issue_token
from tests.support.api import Api, member_headers, operator_headers, pos_headers

SAMPLE_PATH_VALUES = {"operator_id": "nobody", "key_id": "0000abcd", "external_userid": "wm_nobody"}
CONSOLE_ACCOUNTS = {Role.ADMIN: "dana", Role.OPERATOR: "alice", Role.AUDITOR: "erin"}


def _admin_routes() -> list[RouteSpec]:
    import app  # noqa: F401  (registers every route)

    return [spec for spec in ROUTES if spec.permission is not None]


def _path(spec: RouteSpec) -> str:
    def value(match: re.Match[str]) -> str:
        return SAMPLE_PATH_VALUES.get(match.group(1), "x1")

    return re.sub(r"{(\w+)}", value, spec.path)


def _headers(role: Role | None, method: str, path: str, body: bytes) -> dict[str, str]:
    if role is None:
        return {"Content-Type": "application/json"}
    if role in CONSOLE_ACCOUNTS:
        return operator_headers(CONSOLE_ACCOUNTS[role])
    if role == Role.POS:
        return pos_headers(method, path, body)
    token, _ = issue_token("m_or_staff_1", str(role), utc_now())
    return member_headers(token)


def _call(api: Api, spec: RouteSpec, role: Role | None) -> Any:
    path = _path(spec)
    body = b"{}" if spec.body else b""
    headers = {**_headers(role, spec.method, path, body), "Idempotency-Key": "matrix-1"}
    if role == Role.POS:
        headers.pop("Idempotency-Key")  # a POS request carries no such header; its signature is the check
    return getattr(api.http, spec.method.lower())(path, body=body, headers=headers)


def test_every_admin_route_names_roles_the_document_shows(api: Api) -> None:
    document = api.http.get("/openapi.json").json_body
    routes = _admin_routes()

    assert len(routes) >= 10
    for spec in routes:
        operation = document["paths"][spec.path][spec.method.lower()]
        assert operation["x-roles"] == list(spec.roles), spec.path
        assert "403" in operation["responses"], spec.path
        assert set(spec.roles) <= {Role.ADMIN, Role.OPERATOR, Role.AUDITOR}, spec.path


@pytest.mark.parametrize("role", [*Role, None], ids=lambda r: str(r or "anonymous"))
def test_role_matrix(api: Api, role: Role | None) -> None:
    outcomes: dict[str, tuple[int, str]] = {}
    for spec in _admin_routes():
        response = _call(api, spec, role)
        code = (response.json_body or {}).get("error", {}).get("code", "") if response.body else ""
        outcomes[f"{spec.method} {spec.path}"] = (response.status_code, code)

    for spec in _admin_routes():
        status, code = outcomes[f"{spec.method} {spec.path}"]
        where = f"{role} {spec.method} {spec.path} → {status} {code}"
        if role is None:
            assert status == 401, where
        elif role in spec.roles:
            assert status not in (401, 403), where
        else:
            assert (status, code) == (403, "role_forbidden"), where


def test_the_auditor_reads_everything_but_a_members_export_and_writes_nothing_but_their_sign_out() -> None:
    """A privacy export carries the member's full phone number and profile: it is run on the
    member's request by an operator, audited, not browsed by auditors."""
    routes = [spec for spec in _admin_routes() if spec.permission != "session.self"]

    assert all(Role.AUDITOR not in spec.roles for spec in routes if spec.method != "GET")
    reads = [spec for spec in routes if spec.method == "GET" and spec.permission != "privacy.run"]
    assert all(Role.AUDITOR in spec.roles for spec in reads)


def test_every_admin_write_is_audited_and_no_read_is() -> None:
    for spec in _admin_routes():
        assert spec.audited == (spec.method != "GET"), spec.path


def test_path_samples_match_the_documented_patterns() -> None:
    for name, value in SAMPLE_PATH_VALUES.items():
        assert re.fullmatch(docs_rules.PATH_PATTERNS[name], value), name
