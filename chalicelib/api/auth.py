"""Who is calling: a member or a store staff member (Bearer token), a POS server (HMAC
signature) or an operator."""

from __future__ import annotations

from typing import Any

from chalicelib.clock import epoch_seconds
from chalicelib.domain.errors import Unauthorized
from chalicelib.security.signatures import verify_pos_request
from chalicelib.security.tokens import verify_token

PUBLIC = "public"
MEMBER = "member"
POS = "pos"
OPERATOR = "operator"
STAFF = "staff"  # WeChat Work staff (企业微信员工): reads customers, never writes points


def authenticate(kind: str, request: Any, raw_body: bytes) -> str:
    headers = request.headers
    if kind == PUBLIC:
        return ""
    if kind in (MEMBER, STAFF):
        return verify_token(_bearer(headers.get("authorization")), kind).subject
    if kind == POS:
        return verify_pos_request(
            headers.get("x-client-id"),
            headers.get("x-timestamp"),
            headers.get("x-signature"),
            request.method,
            concrete_path(request.path, request.uri_params or {}),
            raw_body,
            int(epoch_seconds()),
        )
    if kind == OPERATOR:
        from chalicelib.services.operator_auth import authenticate_operator

        return authenticate_operator(headers.get("x-operator-id"), headers.get("x-operator-key"), epoch_seconds())
    raise ValueError(f"unknown auth kind {kind}")


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
