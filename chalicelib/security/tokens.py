"""Member, staff and operator tokens: HS256 JWTs with an expiry. They never carry the
session_key. An operator token also carries the console role it was issued for, the
account's generation (bumped to revoke) and a token id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.clock import epoch_seconds
from chalicelib.domain.errors import Unauthorized
from chalicelib.settings import get_settings

_ISSUER = "wxmember"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str


def issue_token(
    subject: str, role: str, now: datetime, *, ttl: int | None = None, extra: dict[str, Any] | None = None
) -> tuple[str, int]:
    import jwt  # imported on use: PyJWT pulls in cryptography, too slow for every cold start

    settings = get_settings()
    ttl = settings.jwt_ttl_seconds if ttl is None else ttl
    claims = {"sub": subject, "role": role, "iss": _ISSUER, "iat": now, "exp": now + timedelta(seconds=ttl)}
    return jwt.encode({**(extra or {}), **claims}, settings.jwt_secret, algorithm="HS256"), ttl


def token_role(token: str) -> str | None:
    """The audience a token claims, unverified: only to choose which check verifies it."""
    import jwt

    try:
        role = jwt.decode(token, options={"verify_signature": False}).get("role")
    except jwt.PyJWTError:
        return None
    return role if isinstance(role, str) else None


def verify_token(token: str, role: str) -> Principal:
    claims = verify_claims(token, role)
    return Principal(subject=str(claims["sub"]), role=role)


def verify_claims(token: str, role: str) -> dict[str, Any]:
    import jwt

    try:
        # The algorithm list is fixed: a token that says "none" or RS256 is rejected.
        claims = jwt.decode(
            token,
            get_settings().jwt_secret,
            algorithms=["HS256"],
            issuer=_ISSUER,
            # Expiry is checked against our clock (PyJWT would read the wall clock itself).
            options={"require": ["sub", "exp", "iat", "role"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as error:
        raise Unauthorized(f"token rejected: {type(error).__name__}") from error
    if not isinstance(claims["exp"], int | float) or claims["exp"] <= epoch_seconds():
        raise Unauthorized("token rejected: ExpiredSignatureError")
    if claims["role"] != role:
        raise Unauthorized("token is for another audience")
    return dict(claims)
