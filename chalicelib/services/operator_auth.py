"""Operator sign-in: an id and password for people (a short-lived console token carrying
the role), an id and script key for scripts, both behind one lockout.

After `OPERATOR_LOCKOUT_FAILURES` failed attempts within `OPERATOR_LOCKOUT_SECONDS` the id
is refused (even with the right password or key) until the window has passed since the
last failure. Every request re-reads the account: a disabled account, a changed role or a
revocation (the account's generation bumped) ends its tokens at once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.operators import Operator, Principal
from chalicelib.observability import logger
from chalicelib.security import passwords
from chalicelib.security.tokens import issue_token, verify_claims
from chalicelib.settings import get_settings
from chalicelib.store import audit_repo, counters_repo, operators_repo

MAX_OPERATOR_ID = 64
TOKEN_AUDIENCE = "operator"


@dataclass(frozen=True)
class SignIn:
    token: str
    expires_in: int
    operator: Operator


def login(operator_id: str, password: str, now: datetime, request_id: str) -> SignIn:
    operator = _checked(
        operator_id,
        now.timestamp(),
        lambda found: passwords.verify_password(found.password_hash if found else None, password),
    )
    if operator.password_hash and passwords.needs_rehash(operator.password_hash):
        operators_repo.update(operator, iso(now), password_hash=passwords.hash_password(password))
    token, ttl = issue_token(
        operator_id,
        TOKEN_AUDIENCE,
        now,
        ttl=get_settings().operator_token_ttl_seconds,
        extra={"op_role": str(operator.role), "gen": operator.generation, "jti": secrets.token_hex(8)},
    )
    audit_repo.record(
        AuditEntry(request_id, iso(now), operator_id, operator.role, "POST /admin/auth/login", f"operator:{operator_id}",
                   request_id, after={"signed_in": True, "expires_in": ttl})
    )  # fmt: skip
    return SignIn(token, ttl, operator)


def authenticate_key(operator_id: str | None, key: str | None, now_epoch: float) -> Principal:
    if not operator_id or not key:
        raise Unauthorized("X-Operator-Id and X-Operator-Key are required", code="operator_credentials_missing")
    operator = _checked(
        operator_id, now_epoch, lambda found: bool(found and passwords.key_matches(found.key_hashes, key))
    )
    return Principal(operator.operator_id, operator.role)


def authenticate_token(token: str, now_epoch: float) -> Principal:
    claims = verify_claims(token, TOKEN_AUDIENCE)
    operator = operators_repo.get(str(claims["sub"]))
    if operator is None or not operator.active:
        raise Unauthorized("operator disabled", code="operator_bad_credentials")
    if claims.get("gen") != operator.generation:
        raise Unauthorized("token revoked: sign in again", code="operator_token_revoked")
    if claims.get("op_role") != operator.role:
        raise Unauthorized("role changed: sign in again", code="operator_token_revoked")
    return Principal(operator.operator_id, operator.role)


def _checked(operator_id: str, now_epoch: float, proves: Callable[[Operator | None], bool]) -> Operator:
    """The active operator that the credential proves, under the lockout; 401 otherwise, the
    same answer for an unknown id, a wrong secret and a disabled account."""
    if len(operator_id) > MAX_OPERATOR_ID:
        raise Unauthorized("unknown operator or wrong credentials", code="operator_bad_credentials")
    settings = get_settings()
    counter = keys.key("authfail", operator_id)
    failures = counters_repo.read(counter, now_epoch)
    if failures is not None and failures.total >= settings.operator_lockout_failures:
        raise Unauthorized("operator locked out after repeated failures", code="operator_locked_out")
    found = operators_repo.get(operator_id)
    if found is None or not found.active or not proves(found):
        total = counters_repo.bump(counter, now_epoch, settings.operator_lockout_seconds)
        if total >= settings.operator_lockout_failures:
            logger.warning("operator locked out", extra={"operator": operator_id, "failures": total})
        raise Unauthorized("unknown operator or wrong credentials", code="operator_bad_credentials")
    if failures is not None:
        counters_repo.clear(counter)
    return found
