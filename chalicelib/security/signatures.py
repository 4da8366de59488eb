"""Server-to-server request signatures (POS / mall servers).

A POS signs `METHOD \n PATH \n TIMESTAMP \n sha256(body)` with HMAC-SHA256 under its
secret and sends `X-Client-Id`, `X-Timestamp` (unix seconds) and `X-Signature` (hex).
"""

from __future__ import annotations

import hashlib
import hmac
import re

from chalicelib.domain.errors import Unauthorized
from chalicelib.settings import get_settings

# X-Timestamp: 1-12 ASCII digits. str.isdigit() also admits "²" (int() fails) and "١٧٠…" (int() reads it).
EPOCH_SECONDS = re.compile(r"[0-9]{1,12}")


def pos_signature(secret: str, method: str, path: str, timestamp: str, body: bytes) -> str:
    message = "\n".join([method.upper(), path, timestamp, hashlib.sha256(body).hexdigest()])
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_pos_request(
    client_id: str | None,
    timestamp: str | None,
    signature: str | None,
    method: str,
    path: str,
    body: bytes,
    now_epoch: int,
) -> str:
    settings = get_settings()
    if not client_id or not timestamp or not signature:
        raise Unauthorized("X-Client-Id, X-Timestamp and X-Signature are required", code="pos_credentials_missing")
    secret = settings.pos_clients.get(client_id)
    if secret is None:
        raise Unauthorized("unknown client", code="pos_unknown_client")
    if not EPOCH_SECONDS.fullmatch(timestamp) or not _in_window(int(timestamp), now_epoch):
        raise Unauthorized("timestamp outside the allowed window", code="pos_timestamp_out_of_window")
    expected = pos_signature(secret, method, path, timestamp, body)
    if not signature.isascii() or not hmac.compare_digest(expected, signature):  # compare_digest refuses non-ASCII str
        raise Unauthorized("bad signature", code="pos_bad_signature")
    return client_id


def _in_window(stamp: int, now_epoch: int) -> bool:
    """Up to the skew in the past (a request in flight), a few seconds ahead (clock drift): a
    request signed for later cannot be held back and replayed after the window has moved on."""
    settings = get_settings()
    return -settings.pos_signature_max_skew_seconds <= stamp - now_epoch <= settings.pos_signature_max_future_seconds
