"""Schemathesis hooks for the local stack: `SCHEMATHESIS_HOOKS=tests.contract.hooks st run …`
(tests/contract/test_schemathesis.py runs it so).

Each operation is sent as its caller would send it, by the security scheme the document names:
member and staff Bearer tokens (the fake WeChat's `demo:` and `staff:` codes), a POS HMAC
signature over the exact bytes sent, operator headers. Reads `WXM_API` (default
http://127.0.0.1:8000) and `LOCAL_DIR` (default .local) for the secrets, as `local/pos_call.py`
does, so it also runs against `make run`.

Some rules cannot be written in JSON Schema; the document states them in words (docs_rules),
and here, for schema-valid requests only, the run either sends what such a rule asks for (an
existing id or member half the time, a cursor the ledger handed out, instants near the clock,
integers without a fraction, a key or order id of its own per request) or accepts the 400 that
enforces it (`filter_failure`, counted in the report).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import schemathesis

from chalicelib.clock import utc_now
from tests.contract.callers import log_in_callers, security_schemes
from tests.contract.seed import Seeded, seed

ROOT = Path(__file__).resolve().parents[2]


def _uses(schemes: set[str]) -> Callable[[Any], bool]:
    return lambda ctx: bool(schemes & security_schemes(ctx.operation))


def _register(api_url: str, secrets_file: Path) -> Seeded:
    callers = log_in_callers(api_url, secrets_file)
    for auth in set(callers.by_scheme.values()):
        schemes = {scheme for scheme, given in callers.by_scheme.items() if given is auth}
        schemathesis.auth.set_from_requests(auth).apply_to(_uses(schemes))  # type: ignore[attr-defined]
    return seed(api_url, callers.by_scheme, callers.second_operator)


SEEDED = _register(
    os.environ.get("WXM_API", "http://127.0.0.1:8000"),
    Path(os.environ.get("LOCAL_DIR", ROOT / ".local")) / "secrets.env",
)


def _draw(value: object, choices: int) -> int:
    """A stable choice from a generated value (hash() is salted per process)."""
    return zlib.crc32(repr(value).encode()) % choices


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(item) for item in value]
    return value


def _near_the_clock(body: dict[str, Any]) -> dict[str, Any]:
    now = utc_now()
    if isinstance(body.get("paid_at"), str):  # OrderIn: 30 days back, not ahead
        body["paid_at"] = (now - timedelta(hours=1 + _draw(body["paid_at"], 29 * 24))).isoformat()
    if isinstance(body.get("send_at"), str):  # CampaignIn: 731 days back, 366 ahead
        body["send_at"] = (now + timedelta(hours=_draw(body["send_at"], 365 * 24) - 1)).isoformat()
    return body


def _own_key(key: str, request: object) -> str:
    """A generated key made this request's own: schemathesis draws the same few keys for many
    bodies, which the API rightly answers 409 (a key reused for another request)."""
    return f"{key[:50]}-{_draw(request, 2**32):08x}"


def _own_keys(case: Any) -> None:
    headers = case.headers or {}
    if "Idempotency-Key" in headers:
        headers["Idempotency-Key"] = _own_key(headers["Idempotency-Key"], (case.path_parameters, case.body))
    for name in ("order_id", "refund_id"):  # POS requests are idempotent by these ids
        if isinstance(case.body, dict) and isinstance(case.body.get(name), str):
            case.body[name] = _own_key(case.body[name], (case.path_parameters, case.body))


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    _own_keys(case)  # first: from generated values only, the same in every run
    for name, value in (case.path_parameters or {}).items():
        if name in SEEDED.path and _draw(value, 2) == 0:
            case.path_parameters[name] = SEEDED.path[name]
    if case.query and "cursor" in case.query:
        case.query["cursor"] = SEEDED.cursor
    if isinstance(case.body, dict):
        case.body = _near_the_clock(_whole_numbers(case.body))
        if isinstance(case.body.get("member"), dict) and _draw(case.body["member"], 2) == 0:
            case.body["member"] = {"member_id": SEEDED.path["member_id"]}  # OrderIn: an existing member


def _error(response: Any) -> dict[str, Any]:
    try:
        error = response.json().get("error", {})
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


def _self_merge(case: Any, error: dict[str, Any]) -> bool:
    body = case.body if isinstance(case.body, dict) else {}
    return body.get("survivor_id") == body.get("merged_id") and error.get("code") == "invalid_request"


def _code(*codes: str) -> Callable[[Any, dict[str, Any]], bool]:
    return lambda _case, error: error.get("code") in codes


def _field(*names: str) -> Callable[[Any, dict[str, Any]], bool]:
    """A 400 naming one of these fields (a rule between fields: line amounts add up to the order)."""
    return lambda _case, error: any(f.get("field", "").split(".")[0] in names for f in error.get("fields", []))


# 400s that enforce a rule JSON Schema cannot state. WeChat's codes are one-time credentials (a
# well-formed one WeChat never issued is refused, as a login refuses a wrong password); no
# keyword compares two fields.
UNSTATABLE: dict[str, Callable[[Any, dict[str, Any]], bool]] = {
    "POST /v1/auth/login": _code("invalid_wechat_code"),
    "POST /v1/staff/login": _code("invalid_wechat_code"),
    "POST /v1/me/phone": _code("invalid_phone_code", "invalid_wechat_code"),
    "POST /admin/members/merge": _self_merge,
    # exactly one of member_id, phone, openid, unionid, external_userid: JSON Schema cannot say it of a query
    "GET /admin/members/search": _code("invalid_request"),
    # order lines: their amounts add up to amount_fen; a refund's lines are the order's own, on an order with lines
    # …and a dynamic member code (动态会员码) is signed: one matching its pattern is refused unless we issued it
    "POST /v1/orders": _field("lines", "member"),
    # a make-up day within makeup_days of today, not before registration: a window on the clock
    # an action the programme has a rule for, at a time within the backdating window
    "POST /v1/actions": _field("action", "at", "member"),
    "POST /v1/me/checkins": _code("makeup_out_of_range", "checkin_future_day", "makeup_disabled"),
    "POST /v1/orders/{order_id}/refund": _field("lines", "refund_id"),
    # a member code's or coupon code's check character (a mistyped code is refused before any lookup)
    "POST /v1/me/gifts": _field("to_code"),
    "GET /v1/me/coupons/{code}": _code("coupon_code_invalid"),
    "GET /v1/me/coupons/{code}/qr": _code("coupon_code_invalid"),
    "POST /v1/pos/coupons/{code}/return": _code("coupon_code_invalid"),
    "POST /v1/staff/coupons/redemptions": _code(
        "coupon_code_invalid", "coupon_payload_invalid", "coupon_payload_expired"
    ),
    "POST /v1/pos/coupons/redemptions": _code(
        "coupon_code_invalid", "coupon_payload_invalid", "coupon_payload_expired"
    ),
    # the cursor the run holds is the ledger's; a listing takes only the cursors it handed out
    "GET /v1/me/referrals": _field("cursor"),
    "GET /v1/wallet": _field("cursor"),
    "GET /admin/members/{member_id}/wallet": _field("cursor"),
    # a campaign's coupon is one of the coupon templates that exist (data, not schema)
    "POST /admin/campaigns": _field("coupon_template_id"),
    # a checkout's lines add up to amount_fen; its points and wallet within what the member holds and the
    # order allows; a coupon code's check character; a dynamic member code we issued
    "POST /v1/checkout/quote": _field("lines", "member", "points", "wallet_fen", "coupon_codes"),
    "POST /v1/checkout/confirm": _field("lines", "member", "points", "wallet_fen", "coupon_codes"),
    # a top-up within the programme's bounds (its minimum and the card's limit are data)
    "POST /v1/wallet/topups": _code("topup_amount_out_of_range"),
    # the member card: a card_id given or configured (MEMBER_CARD_ID) and accepted by WeChat; a card still held
    "PUT /admin/member-card/activate-form": _field("card_id"),
    "POST /admin/members/{member_id}/card/sync": _field("member_id"),
}


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """False drops the failure (the report counts it)."""
    rule = UNSTATABLE.get(f"{case.method.upper()} {case.operation.path}")
    if failure.code != "ST202" or response.status_code != 400 or rule is None:
        return True
    return not rule(case, _error(response))
