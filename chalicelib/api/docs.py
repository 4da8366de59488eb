"""`GET /openapi.json`: OpenAPI 3.1 generated from the route declarations and pydantic models,
with the rules of `docs_rules` that the models cannot express."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from chalice.app import Blueprint, Response

from chalicelib.api import docs_rules
from chalicelib.api.routing import ROUTES, RouteSpec, model

if TYPE_CHECKING:
    from pydantic import BaseModel

bp = Blueprint(__name__)

_REF = "#/components/schemas/{model}"


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
    schemas = docs_rules.apply_model_rules(defs.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for spec in ROUTES:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "wxmember",
            "version": "1.0.0",
            "description": f"Membership & loyalty API. {docs_rules.INTEGERS}",
        },
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": docs_rules.SECURITY_SCHEMES},
    }


def _operation(spec: RouteSpec) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": spec.summary, "tags": [spec.tag], "parameters": _parameters(spec)}
    operation["operationId"] = re.sub(r"[^A-Za-z0-9]+", "_", f"{spec.method}_{spec.path}").strip("_")
    if spec.body is not None:
        schema = {"$ref": _REF.format(model=spec.body)}
        operation["requestBody"] = {
            "required": not spec.body_optional,
            "content": {"application/json": {"schema": schema}},
        }
    responses: dict[str, Any] = {}
    if spec.response is not None:
        schema = {"$ref": _REF.format(model=spec.response)}
        responses[str(spec.status)] = {"description": "OK", "content": {"application/json": {"schema": schema}}}
    error = {"content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorOut")}}}}
    # Every route: 415 a Content-Type it does not take (routing.unsupported_media_type), 431 a
    # request line and headers over API Gateway's 10 KB (local/api_server.py answers the same).
    for status in sorted({400, 413, 415, 431, *spec.errors}):
        responses[str(status)] = {"description": "error", **error}
    operation["responses"] = responses
    if spec.auth in docs_rules.SECURITY:
        operation["security"] = docs_rules.SECURITY[spec.auth]
    if spec.roles:
        # Who may call it (api/permissions.py); any other role is answered 403.
        operation["x-roles"] = list(spec.roles)
        operation["description"] = f"Roles: {', '.join(spec.roles)}." + (" Audited." if spec.audited else "")
    return operation


def _parameters(spec: RouteSpec) -> list[dict[str, Any]]:
    params = [docs_rules.path_parameter(name) for name in re.findall(r"{(\w+)}", spec.path)]
    if spec.query is not None:
        schema = model(spec.query).model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            required = name in schema.get("required", [])
            params.append(
                {"name": name, "in": "query", "required": required, "schema": docs_rules.query_rules(name, prop)}
            )
    if spec.idempotency_key != "none":
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": spec.idempotency_key == "required",
                "schema": {"type": "string", "pattern": docs_rules.KEY_PATTERN},
            }
        )
    return params
