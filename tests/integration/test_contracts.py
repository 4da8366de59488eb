"""Contracts that keep generated artefacts honest: OpenAPI covers every route; infra matches the models."""

from __future__ import annotations

import json
from pathlib import Path

from openapi_spec_validator import validate

from chalicelib.store.tables import cloudformation_resources
from tests.support.api import Api

ROOT = Path(__file__).resolve().parents[2]


def test_openapi_document_is_valid_and_lists_every_route(api: Api) -> None:
    from app import app

    response = api.http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json_body
    validate(document)
    declared = {(path, method.lower()) for path, entry in app.routes.items() for method in entry}
    documented = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert declared - {("/openapi.json", "get")} == documented


def test_infra_tables_are_generated_from_the_models() -> None:
    committed = json.loads((ROOT / "infra" / "tables.json").read_text())
    assert committed == {"Resources": cloudformation_resources("test-")}, "infra/tables.json is stale: run `make infra`"
