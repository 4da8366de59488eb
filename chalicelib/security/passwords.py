"""Operator passwords (argon2id, memory-hard) and script keys (random, stored as SHA-256).

A password is chosen by a person and may be weak: it is hashed with argon2id (argon2-cffi,
RFC 9106's low-memory profile: 64 MiB, 3 passes), and a stored hash with older parameters
is re-hashed at the next sign-in. A script key is 256 random bits that we generate: a fast
hash is enough to make a leaked table useless, and costs nothing per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache
from typing import Any

MIN_PASSWORD = 12
MAX_PASSWORD = 256
KEY_PREFIX = "wxk_"


@lru_cache(maxsize=1)
def _hasher() -> Any:
    from argon2 import PasswordHasher  # imported on use: only sign-in needs it

    return PasswordHasher()


def hash_password(password: str) -> str:
    return str(_hasher().hash(password))


def verify_password(stored: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    if not stored:
        _hasher().hash(password)  # the same cost for an unknown id: no timing oracle
        return False
    try:
        return bool(_hasher().verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return bool(_hasher().check_needs_rehash(stored))


def new_key() -> tuple[str, str, str]:
    """(key id, the key shown once, its hash to store)."""
    key_id = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    return key_id, key, hash_key(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(hashes: dict[str, str], key: str) -> bool:
    wanted = hash_key(key)
    return any(hmac.compare_digest(wanted, stored) for stored in hashes.values())


def weak_password_reason(password: str, operator_id: str) -> str | None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        return f"must be {MIN_PASSWORD}-{MAX_PASSWORD} characters"
    if operator_id.lower() in password.lower():
        return "must not contain the operator id"
    if len(set(password)) < 6:
        return "must use at least 6 different characters"
    return None
