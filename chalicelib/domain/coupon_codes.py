"""Coupon codes (券码) and the member's QR payload (动态券码).

A code is 13 characters of Crockford's base32 drawn from `secrets` (65 bits: unguessable, no
enumeration finds a coupon) and one check character (Luhn mod 32: any one wrong character
and any swap of neighbours is refused before a lookup). Look-alikes read as Crockford does
(O → 0, I and L → 1); spaces and hyphens a person typed are ignored.

The QR shows `c1.<code>.<expires>.<signature>`: the code and a unix expiry, HMAC-SHA256
signed with the QR key (settings `COUPON_QR_SECRET`). The app fetches a fresh one every
REFRESH seconds and each is good for VALID seconds, so a screenshot stops working within
VALID; a payload edited anywhere (another code, a later expiry) fails the signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from chalicelib.domain.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY = 13  # 65 bits
PREFIX = "c1"  # the payload format's version
SIGNATURE_CHARS = 22  # 132 bits of the HMAC, base64url
_LOOK_ALIKES = str.maketrans("OIL", "011", " -")


@dataclass(frozen=True)
class QrPayload:
    payload: str
    expires_at: int  # unix seconds
    refresh_after: int  # seconds


def new_code() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY))
    return body + check_character(body)


def check_character(body: str) -> str:
    """Luhn mod 32: every second value from the right doubled (its base-32 digits summed)."""
    base = len(ALPHABET)
    total = 0
    for position, char in enumerate(reversed(body)):
        value = ALPHABET.index(char)
        if position % 2 == 0:
            value *= 2
            value = value // base + value % base
        total += value
    return ALPHABET[(base - total % base) % base]


def normalise(text: str, field: str = "code") -> str:
    """The code as stored, or 400 naming `field`: wrong length, alphabet or check character."""
    code = text.strip().upper().translate(_LOOK_ALIKES)
    if len(code) != BODY + 1 or any(char not in ALPHABET for char in code):
        raise InvalidInput(f"a coupon code is {BODY + 1} letters and digits", field=field, code="coupon_code_invalid")
    if check_character(code[:BODY]) != code[BODY]:
        raise InvalidInput("the coupon code is mistyped", field=field, code="coupon_code_invalid")
    return code


def is_payload(text: str) -> bool:
    return text.strip().startswith(PREFIX + ".")


def sign(code: str, now_epoch: float, key: bytes, *, valid: int, refresh: int) -> QrPayload:
    expires = int(now_epoch) + valid
    return QrPayload(f"{PREFIX}.{code}.{expires}.{_signature(code, expires, key)}", expires, refresh)


def read(payload: str, now_epoch: float, key: bytes, field: str = "payload") -> str:
    """The code a payload names, if its signature holds and it has not expired; else 400."""
    parts = payload.strip().split(".")
    if len(parts) != 4 or parts[0] != PREFIX or not parts[2].isascii() or not parts[2].isdigit():
        raise InvalidInput("not a coupon QR payload", field=field, code="coupon_payload_invalid")
    _, code, expires_text, signature = parts
    if len(expires_text) > 12 or not hmac.compare_digest(
        _signature(code, int(expires_text), key).encode(), signature.encode()
    ):
        raise InvalidInput("the QR payload's signature does not hold", field=field, code="coupon_payload_invalid")
    if int(expires_text) <= now_epoch:
        raise InvalidInput("the QR payload has expired: refresh it", field=field, code="coupon_payload_expired")
    return normalise(code, field)


def _signature(code: str, expires: int, key: bytes) -> str:
    digest = hmac.new(key, f"coupon-qr|{PREFIX}|{code}|{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:SIGNATURE_CHARS]
