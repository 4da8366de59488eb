"""`POST /wechat/pay/notify`: WeChat Pay's payment and refund notifications (支付/退款结果通知).

WeChat Pay reads only the status: 2xx means received (we answer 204, no body); anything else,
with `{"code": "FAIL", "message": ...}`, makes it send the notification again on its schedule.
So: 401 for a signature that fails, a probe or a stale timestamp, 400 for an envelope or a
payment that is not right, 404 for an order we never made (all logged, nothing credited), 503
when the store is busy and 500 for our own faults, which a resend may outlive. The raw body is
verified as received, before anything is parsed or stored.
"""

from __future__ import annotations

import json

from chalice.app import Blueprint, Response

from chalicelib.api.errors import message
from chalicelib.api.routing import ROUTES, RouteSpec, request_id, unsupported_media_type
from chalicelib.clock import utc_now
from chalicelib.domain.errors import Busy, DomainError
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store.errors import is_unavailable

bp = Blueprint(__name__)
PATH = "/wechat/pay/notify"
_BAD_ENVELOPE = frozenset({"bad_envelope", "undecryptable"})

# Listed in /openapi.json beside WeChat's other callbacks (authenticated by WeChat Pay's signature).
ROUTES.append(
    RouteSpec(
        PATH,
        "POST",
        "wechat",
        "WeChat Pay APIv3 payment and refund notifications: 204, or FAIL so that WeChat Pay sends again",
        "wechat",
        None,
        None,
        None,
        204,
        "none",
        (401, 404, 500, 503),
    )
)


def _fail(status: int, code: str) -> Response:
    body = json.dumps({"code": "FAIL", "message": message(code)}, ensure_ascii=False)
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})


@bp.route(PATH, methods=["POST"], content_types=["*/*"])
def notify() -> Response:
    request = bp.current_request
    if unsupported_media_type(request, ("application/json",)) is not None:
        return _fail(415, "unsupported_media_type")
    raw = request.raw_body or b""
    raw = raw.encode() if isinstance(raw, str) else raw
    if len(raw) > get_settings().max_body_bytes:
        return _fail(413, "payload_too_large")
    headers = {str(name).lower(): str(value) for name, value in request.headers.items()}
    try:
        return _handle(headers, raw)
    except Exception as error:
        if is_unavailable(error) or isinstance(error, Busy):
            logger.warning("pay notification not handled; WeChat Pay resends", extra=request_id(bp))
            return _fail(503, "busy")
        logger.exception("unhandled error in a pay notification", extra=request_id(bp))
        return _fail(500, "internal_error")


def _handle(headers: dict[str, str], raw: bytes) -> Response:
    from chalicelib.domain.topups import PaymentMismatch
    from chalicelib.services import pay_notify

    try:
        outcome = pay_notify.handle(headers, raw, utc_now())
    except pay_notify.NotificationRefused as refused:
        logger.warning("pay notification refused", extra={"reason": refused.reason})
        status = 400 if refused.reason in _BAD_ENVELOPE else 401
        return _fail(status, "wechatpay_notify_refused")
    except pay_notify.UnknownSubject as unknown:
        logger.error("pay notification for nothing of ours", extra={"error": str(unknown)})
        return _fail(404, "wechatpay_notify_unknown")
    except PaymentMismatch as mismatch:
        logger.error("pay notification does not match its top-up", extra={"error": str(mismatch)})
        return _fail(400, "wechatpay_notify_mismatch")
    except DomainError as error:  # WeChat Pay not configured here: a resend may find it configured
        if isinstance(error, Busy):
            raise
        logger.error("pay notification not handled", extra={"code": error.code})
        return _fail(500, "internal_error")
    logger.info("pay notification handled", extra={"outcome": outcome})
    return Response(body="", status_code=204)
