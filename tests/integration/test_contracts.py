"""Contracts that keep generated artefacts honest: OpenAPI covers every route and states what the API
enforces (tests/contract checks it against the running stack); infra matches the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from chalicelib.store.tables import cloudformation_resources
from tests.support.api import Api, operator_headers

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


def test_openapi_document_declares_each_callers_credentials_path_formats_and_415(api: Api) -> None:
    document = api.http.get("/openapi.json").json_body
    schemes = document["components"]["securitySchemes"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert "415" in operation["responses"], where
            for requirement in operation.get("security", []):
                assert set(requirement) <= set(schemes), where
            for parameter in operation["parameters"]:
                if parameter["in"] == "path":
                    assert {"maxLength", "pattern"} <= set(parameter["schema"]), (where, parameter["name"])
    staff = document["paths"]["/v1/staff/customers/{external_userid}"]["get"]
    assert staff["security"] == [{"staffToken": []}]
    pos = document["paths"]["/v1/orders"]["post"]["security"]
    assert pos == [{"posClientId": [], "posTimestamp": [], "posSignature": []}]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/admin/members/" + "m" * 65 + "/points/adjustments", "member_id"),
        ("/admin/members/m%C3%A9/points/adjustments", "member_id"),
        ("/admin/approvals/apr%2Fx/approve", "approval_id"),
    ],
    ids=["65-characters", "non-ascii", "encoded-slash"],
)
def test_path_parameter_outside_its_documented_format_is_400_naming_it(api: Api, path: str, name: str) -> None:
    body = b'{"points": 1, "reason": "x"}' if path.endswith("adjustments") else b""
    headers = {**operator_headers(), "Idempotency-Key": "path-1"}
    response = api.http.post(path, body=body, headers=headers)
    assert response.status_code == 400, response.body[:300]
    assert [field["field"] for field in response.json_body["error"]["fields"]] == [name]


def test_infra_tables_are_generated_from_the_models() -> None:
    committed = json.loads((ROOT / "infra" / "tables.json").read_text())
    assert committed == {"Resources": cloudformation_resources("test-")}, "infra/tables.json is stale: run `make infra`"
