"""The one place that maps domain errors to HTTP. Texts come from the messages file."""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Response

from chalicelib.domain import errors as domain
from chalicelib.texts import text


class PayloadTooLarge(domain.DomainError):
    code = "payload_too_large"


STATUS: dict[type[domain.DomainError], int] = {
    domain.InvalidInput: 400,
    PayloadTooLarge: 413,
    domain.InvalidPhoneCode: 400,
    domain.InvalidWeChatCode: 400,
    domain.Unauthorized: 401,
    domain.Forbidden: 403,
    domain.MemberNotFound: 404,
    domain.OrderNotFound: 404,
    domain.NotFound: 404,
    domain.CampaignNotFound: 404,
    domain.OperatorNotFound: 404,
    domain.InsufficientPoints: 409,
    domain.RefundExceedsOrder: 409,
    domain.IdempotencyConflict: 409,
    domain.AlreadySet: 409,
    domain.PhoneBoundElsewhere: 409,
    domain.ApprovalNotAllowed: 403,
    domain.Busy: 503,
    domain.WeChatUnavailable: 503,
    domain.MergeConflict: 409,
    domain.MergeNotAllowed: 409,
}


def message(code: str) -> str:
    return text(code)


def error_response(status: int, code: str, fields: list[dict[str, str]] | None = None) -> Response:
    body: dict[str, Any] = {"error": {"code": code, "message": message(code), "fields": fields or []}}
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if status in (401,):
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        headers["Retry-After"] = "1"
    return Response(body=json.dumps(body, ensure_ascii=False), status_code=status, headers=headers)


def domain_error_response(error: domain.DomainError) -> Response:
    status = next((code for kind, code in STATUS.items() if isinstance(error, kind)), 400)
    fields = [{"field": error.field, "reason": error.detail or error.code}] if error.field else []
    return error_response(status, error.code, fields)


def validation_error_response(errors: list[dict[str, Any]], prefix: str = "") -> Response:
    fields = [
        {"field": prefix + ".".join(str(part) for part in err["loc"]) or "body", "reason": err["msg"]} for err in errors
    ]
    return error_response(400, "invalid_request", fields)
