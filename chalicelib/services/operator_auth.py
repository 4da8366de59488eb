"""Operator sign-in by id and key, with a lockout: after `OPERATOR_LOCKOUT_FAILURES` failed
attempts within `OPERATOR_LOCKOUT_SECONDS` the id is refused (even with the right key) until
the window has passed since the last failure. Guessing keys costs a locked-out id, logged."""

from __future__ import annotations

from chalicelib.domain import keys
from chalicelib.domain.errors import Unauthorized
from chalicelib.observability import logger
from chalicelib.security.signatures import verify_operator
from chalicelib.settings import get_settings
from chalicelib.store import counters_repo

MAX_OPERATOR_ID = 64


def authenticate_operator(operator_id: str | None, key: str | None, now_epoch: float) -> str:
    if not operator_id or not key:
        raise Unauthorized("X-Operator-Id and X-Operator-Key are required", code="operator_credentials_missing")
    if len(operator_id) > MAX_OPERATOR_ID or len(key) > 512:
        raise Unauthorized("unknown operator or wrong key", code="operator_bad_credentials")
    settings = get_settings()
    counter = keys.key("authfail", operator_id)
    failures = counters_repo.read(counter, now_epoch)
    if failures is not None and failures.total >= settings.operator_lockout_failures:
        raise Unauthorized("operator locked out after repeated failures", code="operator_locked_out")
    try:
        verify_operator(operator_id, key)
    except Unauthorized:
        total = counters_repo.bump(counter, now_epoch, settings.operator_lockout_seconds)
        if total >= settings.operator_lockout_failures:
            logger.warning("operator locked out", extra={"operator": operator_id, "failures": total})
        raise
    if failures is not None:
        counters_repo.clear(counter)
    return operator_id
