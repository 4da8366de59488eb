"""The API on 127.0.0.1, as `make run` serves it: Chalice's local server, with what it lacks.

    python -m local.api_server --stage local --host 127.0.0.1 --port 8000

`chalice local` listens with the standard library's backlog of 5, so a burst of 20 clients
already sees connections reset; and the answers it makes itself (unknown path, wrong method,
a header or body too large, a malformed request) are not in our error shape. This entry
point builds the same `LocalDevServer` with

- a listen backlog of `LISTEN_BACKLOG` and a thread per connection;
- every error answer as `{"error": {"code", "message", "fields"}}` (built by
  `chalicelib.api.errors.error_response`): an unknown path or method is a 404 `not_found`,
  as API Gateway's MISSING_AUTHENTICATION_TOKEN answer is in the cloud
  (`chalicelib/api/gateway_responses.py`), a method the path does not have is a 405;
- headers over API Gateway's 10 KB refused with 431, bodies over its 10 MB with 413;
- path parameters percent-decoded, as API Gateway hands them to the app.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    LambdaEventConverter,
    LocalDevServer,
    LocalGateway,
    LocalGatewayException,
    MatchResult,
    RouteMatcher,
)
from chalice.local import ThreadedHTTPServer as ChaliceThreadedServer

ROOT = Path(__file__).resolve().parents[1]
LISTEN_BACKLOG = 128
MAX_HEADER_BYTES = 10 * 1024  # API Gateway: request line and headers together
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit (the app's own is MAX_BODY_BYTES)
_CONTENT_LENGTH = re.compile(r"[0-9]{1,10}")
# status → our code, for answers made by Chalice or the standard library rather than our routes
_CODES = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    414: "headers_too_large",
    415: "unsupported_media_type",
    431: "headers_too_large",
    501: "method_not_allowed",
}


def in_our_shape(body: Any) -> bool:
    try:
        parsed = json.loads(body)
    except (TypeError, ValueError):
        return False
    return isinstance(parsed, dict) and isinstance(parsed.get("error"), dict) and "code" in parsed["error"]


def our_answer(status: int, keep: dict[str, Any] | None = None) -> tuple[int, dict[str, Any], str]:
    """(status, headers, body) of our error answer for `status`; `keep` carries headers such as Allow."""
    from chalicelib.api.errors import error_response

    default = "internal_error" if status >= 500 else "invalid_request"
    response = error_response(status, _CODES.get(status, default))
    headers = {**{k: v for k, v in (keep or {}).items() if k.lower() == "allow"}, **response.headers}
    return status, headers, str(response.body)


class DecodingRouteMatcher(RouteMatcher):
    """API Gateway hands the app percent-decoded path parameters; Chalice's matcher, as sent."""

    def match_route(self, url: str) -> MatchResult:
        found = super().match_route(url)
        return MatchResult(
            found.route, {name: unquote(value) for name, value in found.captured.items()}, found.query_params
        )


class DecodingGateway(LocalGateway):
    def __init__(self, app_object: Any, config: Any) -> None:
        super().__init__(app_object, config)
        self.event_converter = LambdaEventConverter(
            DecodingRouteMatcher(list(app_object.routes)), app_object.api.binary_types
        )


class ShapedRequestHandler(ChaliceRequestHandler):
    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any) -> None:
        # As ChaliceRequestHandler.__init__, with the decoding gateway: handling starts in here.
        self.local_gateway = DecodingGateway(app_object, config)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        size = len(self.requestline) + sum(len(name) + len(value) + 4 for name, value in self.headers.items())
        if size > MAX_HEADER_BYTES:
            self.send_error(431)
            return False
        length = self.headers.get("content-length")
        if length is not None and not _CONTENT_LENGTH.fullmatch(length.strip()):
            self.send_error(400)
            return False
        if length is not None and int(length) > MAX_REQUEST_BYTES:
            self.send_error(413)
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (malformed request line, header too long, a
        method no handler has), in our shape; the connection is closed as it would close it."""
        self.log_error("code %d, message %s", code, message)
        status, headers, body = our_answer(code)
        data = body.encode("utf-8")
        self.close_connection = True
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_error_response(self, error: LocalGatewayException) -> None:
        # LocalGateway's 403 "Missing Authentication Token" is API Gateway's unknown path.
        status = 404 if isinstance(error, ForbiddenError) else error.CODE
        self._send_http_response(*our_answer(status, error.headers))

    def _send_http_response(self, code: int, headers: Any, body: str | bytes | None) -> None:
        if code >= 400 and not in_our_shape(body):
            code, headers, body = our_answer(code, headers)
        super()._send_http_response(code, headers, body)


class BackloggedServer(ChaliceThreadedServer):
    """A thread per connection, and a listen queue that absorbs a burst of clients."""

    request_queue_size = LISTEN_BACKLOG


def build_server(stage: str, host: str, port: int) -> LocalDevServer:
    """What `chalice local --stage STAGE` builds (the stage's environment applied, routes
    validated, `current_request` per thread), with our handler and server classes."""
    import os

    from chalice.cli.factory import CLIFactory
    from chalice.deploy.validate import validate_routes
    from chalice.local import CustomLocalChalice, LocalChalice

    config = CLIFactory(project_dir=str(ROOT), environ=os.environ).create_config_obj(chalice_stage_name=stage)
    app = config.chalice_app
    validate_routes(app.routes)
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=ShapedRequestHandler, server_cls=BackloggedServer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.api_server", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="local")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")  # as `chalice local` does
    server = build_server(args.stage, args.host, args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
