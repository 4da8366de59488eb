"""`GET /openapi.json`: OpenAPI 3.1 generated from the route declarations and pydantic models."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from chalice.app import Blueprint, Response

from chalicelib.api.routing import ROUTES, RouteSpec, model

if TYPE_CHECKING:
    from pydantic import BaseModel

bp = Blueprint(__name__)

_REF = "#/components/schemas/{model}"
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "member": [{"memberToken": []}],
    "pos": [{"posSignature": []}],
    "operator": [{"operatorKey": []}],
}


@bp.route("/openapi.json", methods=["GET"])
def openapi() -> Response:
    return Response(body=openapi_document(), status_code=200, headers={"Content-Type": "application/json"})


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    from pydantic.json_schema import models_json_schema

    models: set[type[BaseModel]] = {model("ErrorOut")}
    for spec in ROUTES:
        models.update(model(name) for name in (spec.body, spec.response) if name is not None)
    pairs: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (model, "validation") for model in sorted(models, key=lambda m: m.__name__)
    ]
    _, defs = models_json_schema(pairs, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": "wxmember", "version": "1.0.0", "description": "Membership & loyalty API"},
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {}), "securitySchemes": _security_schemes()},
    }


def _operation(spec: RouteSpec) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": spec.summary, "tags": [spec.tag], "parameters": _parameters(spec)}
    operation["operationId"] = re.sub(r"[^A-Za-z0-9]+", "_", f"{spec.method}_{spec.path}").strip("_")
    if spec.body is not None:
        schema = {"$ref": _REF.format(model=spec.body)}
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    responses: dict[str, Any] = {}
    if spec.response is not None:
        schema = {"$ref": _REF.format(model=spec.response)}
        responses[str(spec.status)] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    error = {"content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorOut")}}}}
    for status in sorted({400, 413, *spec.errors}):
        responses[str(status)] = {"description": "error", **error}
    operation["responses"] = responses
    if spec.auth in _SECURITY:
        operation["security"] = _SECURITY[spec.auth]
    return operation


def _parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
        for name in re.findall(r"{(\w+)}", spec.path)
    ]
    if spec.query is not None:
        schema = model(spec.query).model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in schema.get("required", []), "schema": prop})
    if spec.idempotency_key != "none":
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": spec.idempotency_key == "required",
                "schema": {"type": "string", "pattern": r"^[A-Za-z0-9_\-:.]{1,64}$"},
            }
        )
    return params


def _security_schemes() -> dict[str, Any]:
    return {
        "memberToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "posSignature": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Signature",
            "description": "HMAC-SHA256 of METHOD\\nPATH\\nX-Timestamp\\nsha256(body); with X-Client-Id",
        },
        "operatorKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-Operator-Key",
            "description": "with X-Operator-Id",
        },
    }
