"""Route declaration: authentication, parsing, error mapping and OpenAPI metadata in one place.

Chalice turns an exception raised in a view into a 500 before middleware sees it, so
every view is wrapped here: a route parses its input into a pydantic model, calls one
service function and returns an output model.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Response

from chalicelib.api import auth, docs_rules
from chalicelib.api.permissions import roles_for
from chalicelib.clock import iso, utc_now
from chalicelib.domain.audit import AuditEntry

if TYPE_CHECKING:
    from pydantic import BaseModel
from chalicelib.api.errors import PayloadTooLarge, domain_error_response, error_response, validation_error_response
from chalicelib.domain.errors import DomainError, Forbidden, InvalidInput
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store.errors import is_unavailable

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")
JSON_TYPES = ("application/json",)
# No request model nests beyond a few levels; this refuses hostile nesting long before it costs anything.
MAX_JSON_DEPTH = 32
_STRINGS = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)  # JSON strings, escapes included
_BRACKETS = re.compile(rb"[\[\]{}]")


@dataclass(frozen=True)
class RouteSpec:
    path: str
    method: str
    auth: str
    summary: str
    tag: str
    body: str | None  # names of models in chalicelib.api.schemas, resolved on first use
    query: str | None
    response: str | None
    status: int
    idempotency_key: str  # "required" | "optional" | "none"
    errors: tuple[int, ...]
    permission: str | None = None  # operator routes: a name in api/permissions.py
    audited: bool = False  # an entry in the audit trail with its effect (every admin write)
    max_body_bytes: int | None = None  # this route's own body limit (a file upload); None: settings'
    body_optional: bool = False  # no body reads as `{}` (a check-in today)

    @property
    def roles(self) -> tuple[str, ...]:
        """Who may call it, for the router and the OpenAPI document."""
        if self.permission is not None:
            return tuple(sorted(roles_for(self.permission)))
        return (self.auth,) if self.auth != auth.PUBLIC else ()


ROUTES: list[RouteSpec] = []
Handler = Callable[["Call"], Any]


@dataclass
class Call:
    caller: str
    role: str = ""
    body: Any = None
    query: Any = None
    idempotency_key: str | None = None
    path: dict[str, str] = field(default_factory=dict)


def route(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    auth_kind: str,
    summary: str,
    tag: str,
    body: str | None = None,
    query: str | None = None,
    response: str | None = None,
    status: int = 200,
    idempotency_key: str = "none",
    errors: tuple[int, ...] = (),
    permission: str | None = None,
    audited: bool | None = None,
    max_body_bytes: int | None = None,
    body_optional: bool = False,
) -> Callable[[Handler], Handler]:
    bare = RouteSpec(path, method, auth_kind, summary, tag, body, query, response, status, idempotency_key, errors)
    spec = _declare(replace(bare, max_body_bytes=max_body_bytes, body_optional=body_optional), permission, audited)

    def decorator(handler: Handler) -> Handler:
        # Chalice's own 415 is not in our error shape: it accepts any type and the view answers.
        @bp.route(path, methods=[method], content_types=["*/*"])
        @functools.wraps(handler)
        def view(**path_params: str) -> Response:
            refused = unsupported_media_type(bp.current_request, JSON_TYPES)
            if refused is not None:
                return refused
            try:
                call = _prepare(bp, spec, path_params)
                if spec.audited:
                    from chalicelib.store import audit_repo  # the store loads on first use

                    with audit_repo.bind(_audit_entry(bp, spec, call)):
                        result = handler(call)
                else:
                    result = handler(call)
            except DomainError as error:
                return domain_error_response(error)
            except Exception as error:
                from pydantic import ValidationError

                if isinstance(error, ValidationError):
                    return validation_error_response([dict(e) for e in error.errors(include_url=False)])
                # Never Chalice's bare 500: log it with the stack, answer in the member's language.
                # 503 only for throttling and outages (the client retries); anything else is our bug.
                if is_unavailable(error):
                    logger.warning("store unavailable", extra={"error": type(error).__name__, **request_id(bp)})
                    return error_response(503, "busy")
                logger.exception("unhandled error", extra=request_id(bp))
                return error_response(500, "internal_error")
            if isinstance(result, Response):
                return result
            return Response(
                body=result.model_dump_json(),
                status_code=spec.status,
                headers={"Content-Type": "application/json"},
            )

        return handler  # the plain handler stays callable by other routes and tests

    return decorator


def _declare(spec: RouteSpec, permission: str | None, audited: bool | None) -> RouteSpec:
    """The route's permission checked (a typo fails at import, not at the first request), and
    every operator write audited unless the route says otherwise."""
    if (spec.auth == auth.OPERATOR) != (permission is not None):
        raise ValueError(f"{spec.method} {spec.path}: operator routes, and only they, name a permission")
    errors = spec.errors
    if permission is not None:
        roles_for(permission)
        errors = tuple(sorted({*errors, 403}))
    if audited is None:
        audited = spec.auth == auth.OPERATOR and spec.method != "GET"
    declared = replace(spec, errors=errors, permission=permission, audited=audited)
    ROUTES.append(declared)
    return declared


def _prepare(bp: Blueprint, spec: RouteSpec, path_params: dict[str, str]) -> Call:
    request = bp.current_request
    raw = request.raw_body or b""
    raw = raw.encode() if isinstance(raw, str) else raw
    if len(raw) > (spec.max_body_bytes or get_settings().max_body_bytes):
        raise PayloadTooLarge("body too large")
    principal = auth.authenticate(spec.auth, request, raw)
    if spec.permission is not None and principal.role not in roles_for(spec.permission):
        raise Forbidden(f"the {principal.role} role may not call this route", code="role_forbidden")
    if spec.auth == auth.POS and request.headers.get("idempotency-key") is not None:
        # The signature does not cover headers: a POS call is idempotent by the ids in its signed body.
        raise InvalidInput("POS requests are idempotent by order_id / refund_id, not a header", field="Idempotency-Key")
    call = Call(caller=principal.subject, role=principal.role, path=_path_params(path_params))
    if spec.body is not None:
        empty = spec.body_optional and not raw.strip()
        call.body = model(spec.body).model_validate({}) if empty else _parse_body(model(spec.body), raw)
    if spec.query is not None:
        call.query = model(spec.query).model_validate(dict(request.query_params or {}), strict=False)
    if spec.idempotency_key != "none":
        call.idempotency_key = _idempotency_key(request.headers, spec.idempotency_key == "required")
    return call


def _audit_entry(bp: Blueprint, spec: RouteSpec, call: Call) -> AuditEntry:
    """The entry for this request, targeted at its first path id until the service says more."""
    request_key = request_id(bp).get("request_id") or uuid.uuid4().hex
    target = next((f"{name.removesuffix('_id')}:{value}" for name, value in call.path.items()), spec.path)
    return AuditEntry(
        audit_id=request_key,
        at=iso(utc_now()),
        operator=call.caller,
        role=call.role,
        action=f"{spec.method} {spec.path}",
        target=target,
        request_id=request_key,
    )


def unsupported_media_type(request: Any, accepted: tuple[str, ...]) -> Response | None:
    """415 in our shape unless the Content-Type is one of `accepted` (none given reads as JSON,
    parameters such as `; charset=utf-8` are ignored), as Chalice's own check decides."""
    header = str(request.headers.get("content-type") or "application/json")
    media_type = header.split(";", 1)[0].strip().lower()
    if media_type in accepted:
        return None
    reason = f"{media_type or 'empty'} is not accepted; send {' or '.join(accepted)}"
    return error_response(415, "unsupported_media_type", [{"field": "Content-Type", "reason": reason}])


def request_id(bp: Blueprint) -> dict[str, str]:
    """API Gateway's request id (the client's x-amzn-RequestId), else Lambda's, for a log line."""
    context = getattr(bp.current_request, "context", None) or {}
    found = context.get("requestId") or getattr(bp.lambda_context, "aws_request_id", None)
    return {"request_id": str(found)} if found else {}


class LazyModule:
    """A module imported on first attribute access: route modules name their pydantic models
    at import, but only a request needs them built (every Lambda imports app.py).

    Not importlib's LazyLoader: before Python 3.12 it is not thread-safe, and two threads of
    the local server (or a test's pool) on a cold module saw it half executed. A plain
    import on first use is: the import system's module lock makes the second thread wait."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attribute)


def lazy_module(name: str) -> Any:
    return LazyModule(name)


# Request/response models live in a few modules, one per area; a route names a model by its
# class name, which must be unique across them.
SCHEMA_MODULES = (
    "chalicelib.api.schemas",
    "chalicelib.api.schemas_channels",
    "chalicelib.api.schemas_notify",
    "chalicelib.api.schemas_admin",
    "chalicelib.api.schemas_members_admin",
    "chalicelib.api.schemas_grants",
    "chalicelib.api.schemas_imports",
    "chalicelib.api.schemas_privacy",
    "chalicelib.api.schemas_programme",
    "chalicelib.api.schemas_checkins",
    "chalicelib.api.schemas_referrals",
    "chalicelib.api.schemas_actions",
    "chalicelib.api.schemas_gifts",
    "chalicelib.api.schemas_coupons",
    "chalicelib.api.schemas_wallet",
    "chalicelib.api.schemas_mall",
    "chalicelib.api.schemas_checkout",
    "chalicelib.api.schemas_member_card",
)


def model(name: str) -> type[BaseModel]:
    for module_name in SCHEMA_MODULES:
        found: type[BaseModel] | None = getattr(importlib.import_module(module_name), name, None)
        if found is not None:
            return found
    raise LookupError(f"no request/response model named {name}")


def _parse_body(schema: type[BaseModel], raw: bytes) -> BaseModel:
    if not raw.strip():
        raise InvalidInput("a JSON body is required", field="body")
    if _nesting_depth(raw) > MAX_JSON_DEPTH:
        raise InvalidInput(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", field="body")
    try:
        json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise InvalidInput("body is not valid JSON", field="body") from error
    return schema.model_validate_json(raw)


def _nesting_depth(raw: bytes) -> int:
    """The deepest `[`/`{` nesting outside strings, counted before any parser recurses into it
    (json's recursion runs out near 1,000 levels, well inside MAX_BODY_BYTES)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub(b"", raw)):
        depth += 1 if bracket in b"[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _path_params(values: dict[str, str]) -> dict[str, str]:
    """Ids in a path are ours or WeChat's: as `/openapi.json` documents them (docs_rules), or 400."""
    for name, value in values.items():
        if not re.fullmatch(docs_rules.PATH_PATTERNS.get(name, docs_rules.KEY_PATTERN), value):
            raise InvalidInput(f"{name} must be 1-64 of its documented characters", field=name)
    return values


def _idempotency_key(headers: Any, required: bool) -> str | None:
    key = headers.get("idempotency-key")
    if key is None:
        if required:
            raise InvalidInput("Idempotency-Key header is required", field="Idempotency-Key")
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise InvalidInput("Idempotency-Key must be 1-64 of A-Z a-z 0-9 _ - : .", field="Idempotency-Key")
    return str(key)
