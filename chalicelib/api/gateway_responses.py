"""API Gateway's own answers, in our error shape: `infra/gateway_responses.json`.

API Gateway answers some requests without calling the Lambda: an unknown path or method
(`MISSING_AUTHENTICATION_TOKEN`, a 403 that we turn into the 404 it means), a body over its
10 MB limit, throttling, an integration that failed or timed out. Each answer gets a response
template with `{"error": {"code", "message", "fields": []}}` and the texts of the messages file.

They are written as the `x-amazon-apigateway-gateway-responses` extension of the REST API's
definition (`RestAPI` in `chalice package` output, merged deeply), not as separate
`AWS::ApiGateway::GatewayResponse` resources: a gateway response takes effect only with a new
deployment, and SAM names its deployment after a hash of the definition, so a change here
redeploys the stage, while a separate resource would wait for the next route change.
The local server (`local/api_server.py`) answers the same requests with the same bodies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REST_API = "RestAPI"  # the logical id `chalice package` gives the REST API
EXTENSION = "x-amazon-apigateway-gateway-responses"


@dataclass(frozen=True)
class GatewayAnswer:
    code: str  # a key of the messages file
    status: str | None = None  # None keeps API Gateway's status (each type under DEFAULT_* has its own)
    headers: dict[str, str] = field(default_factory=dict)


ANSWERS: dict[str, GatewayAnswer] = {
    "DEFAULT_4XX": GatewayAnswer("invalid_request"),
    "DEFAULT_5XX": GatewayAnswer("internal_error"),
    "MISSING_AUTHENTICATION_TOKEN": GatewayAnswer("not_found", "404"),  # no such path or method
    "UNSUPPORTED_MEDIA_TYPE": GatewayAnswer("unsupported_media_type", "415"),
    "REQUEST_TOO_LARGE": GatewayAnswer("payload_too_large", "413"),
    "THROTTLED": GatewayAnswer("busy", "429", {"Retry-After": "1"}),
}


def error_body(code: str, messages: dict[str, str]) -> str:
    """The body `chalicelib.api.errors.error_response` writes for `code`, with no fields."""
    text = messages[code]  # a KeyError here means the messages file lacks the code
    if any(mark in text for mark in "$#\\"):
        raise ValueError(f"message {code} would be read as a mapping-template directive")
    return json.dumps({"error": {"code": code, "message": text, "fields": []}}, ensure_ascii=False)


def gateway_responses_template(messages_file: str | None = None) -> dict[str, Any]:
    """infra/gateway_responses.json, merged into `chalice package` by `make package`."""
    if messages_file is None:
        from chalicelib.settings import get_settings

        messages_file = get_settings().messages_file
    messages: dict[str, str] = json.loads(Path(messages_file).read_text(encoding="utf-8"))
    responses: dict[str, Any] = {}
    for kind, answer in ANSWERS.items():
        response: dict[str, Any] = {"responseTemplates": {"application/json": error_body(answer.code, messages)}}
        if answer.status is not None:
            response["statusCode"] = answer.status
        if answer.headers:
            response["responseParameters"] = {
                f"gatewayresponse.header.{name}": f"'{value}'" for name, value in answer.headers.items()
            }
        responses[kind] = response
    return {"Resources": {REST_API: {"Properties": {"DefinitionBody": {EXTENSION: responses}}}}}
