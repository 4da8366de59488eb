"""Phone numbers at rest: AES-GCM ciphertext, plus a keyed hash (HMAC-SHA256) for lookups."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from chalicelib.settings import get_settings


def phone_hash(phone: str) -> str:
    key = get_settings().phone_hash_key.encode()
    return hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()


def encrypt_phone(phone: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(_key()).encrypt(nonce, phone.encode(), b"phone")
    return base64.b64encode(nonce + sealed).decode()


def decrypt_phone(token: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.b64decode(token)
    return AESGCM(_key()).decrypt(raw[:12], raw[12:], b"phone").decode()


def _key() -> bytes:
    key = base64.b64decode(get_settings().phone_enc_key)
    if len(key) != 32:
        raise ValueError("PHONE_ENC_KEY must be 32 bytes, base64")
    return key
