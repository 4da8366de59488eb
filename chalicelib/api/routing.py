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
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from chalice.app import Blueprint, Response

from chalicelib.api import auth

if TYPE_CHECKING:
    from pydantic import BaseModel
from chalicelib.api.errors import PayloadTooLarge, domain_error_response, error_response, validation_error_response
from chalicelib.domain.errors import DomainError, InvalidInput
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store.errors import is_unavailable

_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")


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


ROUTES: list[RouteSpec] = []
Handler = Callable[["Call"], Any]


@dataclass
class Call:
    caller: str
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
) -> Callable[[Handler], Handler]:
    spec = RouteSpec(path, method, auth_kind, summary, tag, body, query, response, status, idempotency_key, errors)
    ROUTES.append(spec)

    def decorator(handler: Handler) -> Handler:
        @bp.route(path, methods=[method], content_types=["application/json"])
        @functools.wraps(handler)
        def view(**path_params: str) -> Response:
            try:
                call = _prepare(bp, spec, path_params)
                result = handler(call)
            except DomainError as error:
                return domain_error_response(error)
            except Exception as error:
                from pydantic import ValidationError

                if isinstance(error, ValidationError):
                    return validation_error_response([dict(e) for e in error.errors(include_url=False)])
                # Never Chalice's bare 500: log it with the stack, answer in the member's language.
                if is_unavailable(error):
                    logger.warning("store unavailable", extra={"error": type(error).__name__})
                    return error_response(503, "busy")
                logger.exception("unhandled error")
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


def _prepare(bp: Blueprint, spec: RouteSpec, path_params: dict[str, str]) -> Call:
    request = bp.current_request
    raw = request.raw_body or b""
    raw = raw.encode() if isinstance(raw, str) else raw
    if len(raw) > get_settings().max_body_bytes:
        raise PayloadTooLarge("body too large")
    caller = auth.authenticate(spec.auth, request, raw)
    if spec.auth == auth.POS and request.headers.get("idempotency-key") is not None:
        # The signature does not cover headers: a POS call is idempotent by the ids in its signed body.
        raise InvalidInput("POS requests are idempotent by order_id / refund_id, not a header", field="Idempotency-Key")
    call = Call(caller=caller, path=path_params)
    if spec.body is not None:
        call.body = _parse_body(model(spec.body), raw)
    if spec.query is not None:
        call.query = model(spec.query).model_validate(dict(request.query_params or {}), strict=False)
    if spec.idempotency_key != "none":
        call.idempotency_key = _idempotency_key(request.headers, spec.idempotency_key == "required")
    return call


def lazy_module(name: str) -> ModuleType:
    """The module, executed on first attribute access: route modules name their pydantic
    models at import, but only a request needs them built (every Lambda imports app.py)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# Request/response models live in a few modules, one per area; a route names a model by its
# class name, which must be unique across them.
SCHEMA_MODULES = ("chalicelib.api.schemas", "chalicelib.api.schemas_channels", "chalicelib.api.schemas_notify")


def model(name: str) -> type[BaseModel]:
    for module_name in SCHEMA_MODULES:
        found: type[BaseModel] | None = getattr(importlib.import_module(module_name), name, None)
        if found is not None:
            return found
    raise LookupError(f"no request/response model named {name}")


def _parse_body(schema: type[BaseModel], raw: bytes) -> BaseModel:
    if not raw.strip():
        raise InvalidInput("a JSON body is required", field="body")
    try:
        json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput("body is not valid JSON", field="body") from error
    return schema.model_validate_json(raw)


def _idempotency_key(headers: Any, required: bool) -> str | None:
    key = headers.get("idempotency-key")
    if key is None:
        if required:
            raise InvalidInput("Idempotency-Key header is required", field="Idempotency-Key")
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise InvalidInput("Idempotency-Key must be 1-64 of A-Z a-z 0-9 _ - : .", field="Idempotency-Key")
    return str(key)
