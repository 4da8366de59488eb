"""WeChat Pay APIv3 notifications (支付通知 / 退款通知): the signature over the raw body, and the
AEAD_AES_256_GCM resource inside.

`Wechatpay-Signature` is RSA-SHA256 (PKCS#1 v1.5) over `timestamp\\nnonce\\nbody\\n`, with the
exact bytes received. The key is chosen by `Wechatpay-Serial`: the WeChat Pay public key's id
(`PUB_KEY_ID_…`, public-key mode, what new merchants get) or a platform certificate's serial
(certificate mode); both may be configured while a merchant migrates. Refused before anything
is stored: WeChat's signature probes (`WECHATPAY/SIGNTEST/…`, sent to check that merchants do
verify), a timestamp more than the allowed skew either way, an unknown serial, a bad signature;
then an envelope that is not WeChat's or a resource that does not decrypt (tampered).

Our own code rather than wechatpayv3's `callback()`: that one verifies a decoded string, knows
no timestamp window or probe, and answers an unknown serial by downloading certificates from
WeChat Pay, which a forged request could then trigger at will.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cryptography.x509 import load_pem_x509_certificate

PROBE_PREFIX = "WECHATPAY/SIGNTEST/"
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"


class NotificationRefused(Exception):
    """`reason` names the check that failed; nothing of the request was stored or acted on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Notification:
    notification_id: str
    event_type: str
    resource_type: str
    resource: dict[str, Any]  # decrypted
    envelope: str  # as received: its resource still encrypted


def pem(text: str, kind: str) -> bytes:
    """A PEM from settings: `\\n` escapes allowed (one-line secrets), or the bare base64 body."""
    text = text.replace("\\n", "\n").strip()
    if not text.startswith("-----BEGIN"):
        body = "\n".join(text[i : i + 64] for i in range(0, len(text), 64))
        text = f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"
    return text.encode()


def verifying_keys(
    public_key: str, public_key_id: str, platform_cert: str, now: datetime
) -> dict[str, rsa.RSAPublicKey]:
    """Serial → key, for every key configured: the public key under its id, a platform
    certificate under its serial (upper-case hex) while it is valid."""
    keys: dict[str, rsa.RSAPublicKey] = {}
    if public_key and public_key_id:
        loaded = load_pem_public_key(pem(public_key, "PUBLIC KEY"))
        if isinstance(loaded, rsa.RSAPublicKey):
            keys[public_key_id] = loaded
    if platform_cert:
        certificate = load_pem_x509_certificate(pem(platform_cert, "CERTIFICATE"))
        cert_key = certificate.public_key()
        valid = certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc
        if valid and isinstance(cert_key, rsa.RSAPublicKey):
            keys[format(certificate.serial_number, "X")] = cert_key
    return keys


def verify(headers: dict[str, str], raw: bytes, now: float, keys: dict[str, rsa.RSAPublicKey], skew: int) -> None:
    """`headers` with lower-case names. Raises NotificationRefused naming the first failed check."""
    signature = headers.get("wechatpay-signature", "")
    if signature.startswith(PROBE_PREFIX):
        raise NotificationRefused("signature_probe")
    stamp, nonce = headers.get("wechatpay-timestamp", ""), headers.get("wechatpay-nonce", "")
    if not (signature and nonce and stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise NotificationRefused("signature_missing")
    if abs(now - int(stamp)) > skew:
        raise NotificationRefused("stale_timestamp")
    if headers.get("wechatpay-signature-type", SIGNATURE_TYPE) != SIGNATURE_TYPE:
        raise NotificationRefused("signature_type")
    serial = headers.get("wechatpay-serial", "")
    key = keys.get(serial) or keys.get(serial.upper())
    if key is None:
        raise NotificationRefused("unknown_serial")
    try:
        signed = f"{stamp}\n{nonce}\n".encode() + raw + b"\n"
        key.verify(base64.b64decode(signature, validate=True), signed, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError) as error:
        raise NotificationRefused("bad_signature") from error


def decrypt_resource(resource: Any, apiv3_key: str) -> dict[str, Any]:
    """AEAD_AES_256_GCM under the APIv3 key, with the resource's nonce and associated_data."""
    if not isinstance(resource, dict) or resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise NotificationRefused("bad_envelope")
    nonce, ciphertext = resource.get("nonce"), resource.get("ciphertext")
    associated = resource.get("associated_data") or ""
    if not (isinstance(nonce, str) and isinstance(ciphertext, str) and isinstance(associated, str)):
        raise NotificationRefused("bad_envelope")
    try:
        data = base64.b64decode(ciphertext, validate=True)
        plain = AESGCM(apiv3_key.encode()).decrypt(nonce.encode(), data, associated.encode())
        found = json.loads(plain)
    except (InvalidTag, binascii.Error, ValueError) as error:
        raise NotificationRefused("undecryptable") from error
    if not isinstance(found, dict):
        raise NotificationRefused("undecryptable")
    return found


def read_notification(
    headers: dict[str, str], raw: bytes, now: datetime, keys: dict[str, rsa.RSAPublicKey], apiv3_key: str, skew: int
) -> Notification:
    verify(headers, raw, now.timestamp(), keys, skew)
    try:
        envelope = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise NotificationRefused("bad_envelope") from error
    if not isinstance(envelope, dict):
        raise NotificationRefused("bad_envelope")
    notification_id, event_type = envelope.get("id"), envelope.get("event_type")
    resource_type = envelope.get("resource_type")
    if not (isinstance(notification_id, str) and 0 < len(notification_id) <= 64 and isinstance(event_type, str)):
        raise NotificationRefused("bad_envelope")
    if resource_type != "encrypt-resource":
        raise NotificationRefused("bad_envelope")
    resource = decrypt_resource(envelope.get("resource"), apiv3_key)
    return Notification(notification_id, event_type, resource_type, resource, raw.decode())
