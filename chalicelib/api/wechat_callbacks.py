"""Callback URLs that WeChat's servers call: `/wechat/mp` (official account, 公众号) and
`/wechat/work` (WeChat Work, 企业微信). GET verifies the URL; POST delivers messages and events.

WeChat sends `text/xml`, or no Content-Type at all (which Chalice reads as JSON), so these
routes accept both, and answer in plain text or XML rather than JSON. A bad signature is 403
and malformed or hostile XML 400, both before anything is stored; a store or queue outage is
503, which WeChat retries.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from chalice.app import Blueprint, Response

from chalicelib.api.errors import domain_error_response, error_response
from chalicelib.api.routing import ROUTES, RouteSpec, request_id, unsupported_media_type
from chalicelib.clock import utc_now
from chalicelib.domain.errors import DomainError
from chalicelib.notify.events import PublishFailed
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store.errors import is_unavailable

bp = Blueprint(__name__)
CONTENT_TYPES = ["text/xml", "application/xml", "application/json", "text/plain", "application/octet-stream"]
ANY_TYPE = ["*/*"]  # Chalice's own 415 is not in our error shape: `_callback` checks CONTENT_TYPES
WECHAT = "wechat"


def _declare(path: str, method: str, summary: str) -> None:
    """Listed in /openapi.json beside the JSON routes (authenticated by WeChat's signature)."""
    ROUTES.append(RouteSpec(path, method, WECHAT, summary, WECHAT, None, None, None, 200, "none", (403, 503)))


def _callback(handler: Callable[[dict[str, str], bytes, datetime], Response]) -> Callable[[], Response]:
    @functools.wraps(handler)
    def view() -> Response:
        request = bp.current_request
        refused = unsupported_media_type(request, tuple(CONTENT_TYPES))
        if refused is not None:
            return refused
        raw = request.raw_body or b""
        raw = raw.encode() if isinstance(raw, str) else raw
        try:
            if len(raw) > get_settings().max_body_bytes:
                return error_response(413, "payload_too_large")
            return handler(dict(request.query_params or {}), raw, utc_now())
        except DomainError as error:
            logger.info("WeChat callback refused", extra={"code": error.code, "field": error.field})
            return domain_error_response(error)
        except Exception as error:
            if is_unavailable(error) or isinstance(error, PublishFailed):
                extra = {"error": type(error).__name__, **request_id(bp)}
                logger.warning("callback not handled; WeChat will retry", extra=extra)
                return error_response(503, "busy")
            logger.exception("unhandled error in a WeChat callback", extra=request_id(bp))
            return error_response(500, "internal_error")

    return view


def _text(body: str, content_type: str = "text/plain; charset=utf-8") -> Response:
    return Response(body=body, status_code=200, headers={"Content-Type": content_type})


@bp.route("/wechat/mp", methods=["GET"], content_types=ANY_TYPE)
@_callback
def mp_verify(params: dict[str, str], _body: bytes, now: datetime) -> Response:
    from chalicelib.wechat import callbacks

    return _text(callbacks.mp_handshake(params, get_settings(), int(now.timestamp())))


@bp.route("/wechat/mp", methods=["POST"], content_types=ANY_TYPE)
@_callback
def mp_message(params: dict[str, str], body: bytes, now: datetime) -> Response:
    from chalicelib.services.callbacks import handle_mp
    from chalicelib.wechat import callbacks

    opened = callbacks.open_mp(params, body, get_settings(), int(now.timestamp()))
    answer = opened.seal(handle_mp(opened.inbound, now), int(now.timestamp()))
    return _text(answer, "application/xml; charset=utf-8" if answer.startswith("<") else "text/plain; charset=utf-8")


@bp.route("/wechat/work", methods=["GET"], content_types=ANY_TYPE)
@_callback
def work_verify(params: dict[str, str], _body: bytes, now: datetime) -> Response:
    from chalicelib.wechat import callbacks

    return _text(callbacks.work_handshake(params, get_settings(), int(now.timestamp())))


@bp.route("/wechat/work", methods=["POST"], content_types=ANY_TYPE)
@_callback
def work_event(params: dict[str, str], body: bytes, now: datetime) -> Response:
    from chalicelib.services.callbacks import handle_work
    from chalicelib.wechat import callbacks

    handle_work(callbacks.open_work(params, body, get_settings(), int(now.timestamp())), now)
    return _text("")  # WeChat Work takes an empty body as "received"


_declare("/wechat/mp", "GET", "Official account URL verification (echostr)")
_declare("/wechat/mp", "POST", "Official account messages and events (plaintext, compatible or safe mode)")
_declare("/wechat/work", "GET", "WeChat Work URL verification (encrypted echostr)")
_declare("/wechat/work", "POST", "WeChat Work events (external contact changes)")
