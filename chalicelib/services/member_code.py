"""The member's dynamic code (动态会员码): what the member card shows as a QR and a barcode, and
what the POS sends as `member: {"code": …}` to earn points or to check out.

`M1` + the member code (services/member_codes.py: public, 9 characters, a merged member's
reaches the survivor) + the unix expiry (7 base-32 digits) + 80 bits of HMAC-SHA256 over
the three (16 base-32 digits): 34 characters of Crockford's upper-case base-32, so it fits a
Code 128 barcode under a phone's width and the QR's alphanumeric mode. As the coupon QR
(domain/coupon_codes.py), it is good for COUPON_QR_VALID_SECONDS and the card fetches a
fresh one every COUPON_QR_REFRESH_SECONDS: a screenshot stops working, an edited one fails
the signature. 80 bits suffice where every guess is a signed POS request checked online
within seconds of issue; the key is MEMBER_CODE_SECRET, else one derived from JWT_SECRET
(never the JWT key, never the coupon QR's key: one leaked key forges one kind of code).

The plain member code is not a dynamic code: it is the invite code members share on purpose,
so naming a member at the counter by it would hand their points to whoever holds it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from chalicelib.domain.coupon_codes import QrPayload
from chalicelib.domain.errors import InvalidInput
from chalicelib.services import member_codes
from chalicelib.settings import get_settings

PREFIX = "M1"  # the format's version
ALPHABET = member_codes.ALPHABET
CODE_CHARS = member_codes.BODY + 1
EXPIRY_CHARS = 7  # 35 bits of unix seconds: until the year 3058
SIGNATURE_CHARS = 16  # 80 bits
LENGTH = len(PREFIX) + CODE_CHARS + EXPIRY_CHARS + SIGNATURE_CHARS  # 34
FIELD = "member.code"


def issue(member_id: str, now: datetime) -> QrPayload:
    """A fresh payload for the member's card (the member code is assigned on first use)."""
    settings = get_settings()
    code = member_codes.code_of(member_id, now)
    expires = int(now.timestamp()) + settings.coupon_qr_valid_seconds
    payload = PREFIX + code + _digits(expires, EXPIRY_CHARS) + _signature(code, expires)
    return QrPayload(payload, expires, settings.coupon_qr_refresh_seconds)


def member_of(payload: str, now: datetime, field: str = FIELD) -> str:
    """The live member a payload names, if it is well formed, signed by us and not expired;
    else 400 naming `field` (`member_code_invalid`, `member_code_expired`)."""
    text = payload.strip().upper()
    body = text[len(PREFIX) :]
    if len(text) != LENGTH or not text.startswith(PREFIX) or any(char not in ALPHABET for char in body):
        raise InvalidInput("not a dynamic member code", field=field, code="member_code_invalid")
    code, rest = body[:CODE_CHARS], body[CODE_CHARS:]
    expires = _number(rest[:EXPIRY_CHARS])
    if not hmac.compare_digest(_signature(code, expires).encode(), rest[EXPIRY_CHARS:].encode()):
        raise InvalidInput("the member code's signature does not hold", field=field, code="member_code_invalid")
    if expires <= now.timestamp():
        raise InvalidInput("the member code has expired: refresh it", field=field, code="member_code_expired")
    return member_codes.member_of(code, field)


def key() -> bytes:
    """MEMBER_CODE_SECRET, else a key derived from JWT_SECRET (not the JWT key, not the QR key)."""
    settings = get_settings()
    if settings.member_code_secret:
        return settings.member_code_secret.encode()
    if not settings.jwt_secret:
        raise RuntimeError("MEMBER_CODE_SECRET (or JWT_SECRET) must be set to sign member codes")
    return hmac.new(settings.jwt_secret.encode(), b"wxmember member-code key", hashlib.sha256).digest()


def _signature(code: str, expires: int) -> str:
    digest = hmac.new(key(), f"member-code|{PREFIX}|{code}|{expires}".encode(), hashlib.sha256).digest()
    bits = SIGNATURE_CHARS * 5
    return _digits(int.from_bytes(digest, "big") >> (len(digest) * 8 - bits), SIGNATURE_CHARS)


def _digits(value: int, width: int) -> str:
    """`value` in `width` base-32 digits, most significant first."""
    return "".join(ALPHABET[(value >> (5 * shift)) & 31] for shift in reversed(range(width)))


def _number(digits: str) -> int:
    value = 0
    for char in digits:
        value = value * 32 + ALPHABET.index(char)
    return value
