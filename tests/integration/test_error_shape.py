"""Every error answer is `{"error": {"code", "message", "fields"}}`: the app's own, and the ones API
Gateway gives without calling the app (unknown path, throttled, too large), from infra/gateway_responses.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.api import Api, member_headers

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = json.loads((ROOT / "chalicelib" / "config" / "messages.zh-CN.json").read_text(encoding="utf-8"))
GATEWAY_TYPES = {
    "DEFAULT_4XX",
    "DEFAULT_5XX",
    "UNSUPPORTED_MEDIA_TYPE",
    "MISSING_AUTHENTICATION_TOKEN",
    "REQUEST_TOO_LARGE",
    "THROTTLED",
}


def _in_our_shape(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code and body["error"]["message"] == MESSAGES[code]


def test_wrong_content_type_on_a_json_route_is_415_in_our_shape_naming_content_type(api: Api) -> None:
    token, _ = api.login("media")
    for response in [
        api.http.post("/v1/auth/login", body=b'{"code": "x"}', headers={"Content-Type": "text/plain"}),
        api.http.get("/v1/me", headers={**member_headers(token), "Content-Type": "text/html"}),
    ]:
        assert response.status_code == 415, response.body[:200]
        _in_our_shape(response.json_body, "unsupported_media_type")
        assert [item["field"] for item in response.json_body["error"]["fields"]] == ["Content-Type"]


def test_json_with_a_charset_or_no_content_type_is_still_json(api: Api) -> None:
    token, _ = api.login("charset")
    assert api.http.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    charset = {**member_headers(token), "Content-Type": "application/json; charset=utf-8"}
    assert api.http.get("/v1/me", headers=charset).status_code == 200


def test_wechat_callback_with_an_unsupported_content_type_is_415_in_our_shape(api: Api) -> None:
    response = api.http.post("/wechat/mp?timestamp=1", body=b"<xml/>", headers={"Content-Type": "image/png"})
    assert response.status_code == 415
    _in_our_shape(response.json_body, "unsupported_media_type")


def test_infra_gateway_responses_json_is_current() -> None:
    from chalicelib.api.gateway_responses import gateway_responses_template

    committed = json.loads((ROOT / "infra" / "gateway_responses.json").read_text(encoding="utf-8"))
    assert committed == gateway_responses_template(), "infra/gateway_responses.json is stale: run `make infra`"


def test_api_gateways_own_answers_are_in_our_shape_on_the_packaged_rest_api() -> None:
    committed = json.loads((ROOT / "infra" / "gateway_responses.json").read_text(encoding="utf-8"))
    body = committed["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    responses = body["x-amazon-apigateway-gateway-responses"]
    assert set(responses) == GATEWAY_TYPES
    expected = {
        "DEFAULT_4XX": "invalid_request",
        "DEFAULT_5XX": "internal_error",
        "UNSUPPORTED_MEDIA_TYPE": "unsupported_media_type",
        "MISSING_AUTHENTICATION_TOKEN": "not_found",
        "REQUEST_TOO_LARGE": "payload_too_large",
        "THROTTLED": "busy",
    }
    for kind, code in expected.items():
        _in_our_shape(json.loads(responses[kind]["responseTemplates"]["application/json"]), code)
    assert responses["MISSING_AUTHENTICATION_TOKEN"]["statusCode"] == "404"  # API Gateway's "unknown path"
    assert responses["THROTTLED"]["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


def test_merged_infra_template_carries_tables_queues_and_gateway_responses() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("merge_templates", ROOT / "infra" / "merge_templates.py")
    assert spec is not None and spec.loader is not None
    merge_templates = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(merge_templates)
    names = ("tables.json", "queues.json", "gateway_responses.json")
    merged = merge_templates.merge([str(ROOT / "infra" / name) for name in names])
    assert {"RestAPI", "EventsQueue", "EventsWorker"} <= set(merged["Resources"])
    makefile = (ROOT / "Makefile").read_text()
    assert "infra/tables.json infra/queues.json infra/gateway_responses.json" in makefile, "make package merges it"
