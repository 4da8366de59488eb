"""Who is calling: a member or a store staff member (Bearer token), a POS server (HMAC
signature) or an operator (a console token, or an id and script key)."""

from __future__ import annotations

from typing import Any

from chalicelib.clock import epoch_seconds
from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.operators import Principal, Role
from chalicelib.security.signatures import verify_pos_request
from chalicelib.security.tokens import token_role, verify_token

PUBLIC = "public"
MEMBER = "member"
POS = "pos"
OPERATOR = "operator"  # the admin area: any console role, as the route's permission allows
STAFF = "staff"  # WeChat Work staff (企业微信员工): reads customers, never writes points


def authenticate(kind: str, request: Any, raw_body: bytes) -> Principal:
    headers = request.headers
    if kind == PUBLIC:
        return Principal("", Role.MEMBER)
    if kind in (MEMBER, STAFF):
        subject = verify_token(_bearer(headers.get("authorization")), kind).subject
        if kind == MEMBER:
            _refuse_closed_account(subject)
        return Principal(subject, Role(kind))
    if kind == POS:
        return Principal(_pos(request, raw_body), Role.POS)
    if kind == OPERATOR:
        return _admin_area(request, raw_body)
    raise ValueError(f"unknown auth kind {kind}")


def _refuse_closed_account(member_id: str) -> None:
    """A closed account's tokens (会员注销) stop working at once: one read of its state."""
    from chalicelib.services import privacy

    privacy.refuse_closed(member_id)


def _admin_area(request: Any, raw_body: bytes) -> Principal:
    """Whoever the credentials prove, in their role: the router then answers 403 to a staff
    token or a signed POS request on an admin route, and 401 to credentials that prove nothing."""
    from chalicelib.services import operator_auth

    headers = request.headers
    authorization = headers.get("authorization")
    if authorization is not None:
        token = _bearer(authorization)
        if token_role(token) == OPERATOR:
            return operator_auth.authenticate_token(token, epoch_seconds())
        role = token_role(token)
        if role in (MEMBER, STAFF):
            return Principal(verify_token(token, role).subject, Role(role))
        raise Unauthorized("token rejected")
    if headers.get("x-signature") is not None and headers.get("x-operator-key") is None:
        return Principal(_pos(request, raw_body), Role.POS)
    return operator_auth.authenticate_key(headers.get("x-operator-id"), headers.get("x-operator-key"), epoch_seconds())


def _pos(request: Any, raw_body: bytes) -> str:
    headers = request.headers
    return verify_pos_request(
        headers.get("x-client-id"),
        headers.get("x-timestamp"),
        headers.get("x-signature"),
        request.method,
        concrete_path(request.path, request.uri_params or {}),
        raw_body,
        int(epoch_seconds()),
    )


def _bearer(value: str | None) -> str:
    if not value or not value.startswith("Bearer ") or len(value) > 4096:
        raise Unauthorized("Authorization: Bearer <token> is required")
    return value.removeprefix("Bearer ").strip()


def concrete_path(template: str, params: dict[str, str]) -> str:
    """`/v1/orders/{order_id}/refund` → `/v1/orders/A1/refund`: what the POS signed, with no
    API Gateway stage prefix, so the same signature holds locally and in the cloud."""
    for name, value in params.items():
        template = template.replace("{" + name + "}", value)
    return template
