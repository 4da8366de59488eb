"""Keys of the fake WeChat Pay (local/fake_wechatpay.py) and of the merchant that talks to it,
and the crypto WeChat Pay applies to what it sends: signed answers and notifications, the
AEAD_AES_256_GCM resource. Written here from WeChat Pay's documentation, not shared with
chalicelib/wechat, so that a mistake on one side is not mirrored on the other.

Both modes of a merchant exist: the WeChat Pay public key (`PUB_KEY_ID_…`, new merchants) and
the platform certificate (older ones); the fake signs with one platform key either way and
names it by the serial of the mode it is in.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import string
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

PUBLIC_KEY = "public_key"
CERTIFICATE = "certificate"
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"


@dataclass(frozen=True)
class PayKeys:
    mchid: str
    apiv3_key: str  # 32 characters
    merchant_private_key: str  # PEM
    merchant_serial: str  # the merchant API certificate's serial (only named, never checked)
    platform_private_key: str  # PEM: WeChat Pay's signing key
    platform_public_key: str  # PEM
    public_key_id: str
    platform_cert: str  # PEM, self-signed, of the same key
    platform_serial: str  # upper-case hex

    def serial(self, mode: str) -> str:
        return self.public_key_id if mode == PUBLIC_KEY else self.platform_serial

    def merchant_env(self, mode: str = PUBLIC_KEY) -> dict[str, str]:
        """Our side's settings (WECHATPAY_*), one line each: PEM newlines as `\\n`."""
        env = {
            "WECHATPAY_MCHID": self.mchid,
            "WECHATPAY_APIV3_KEY": self.apiv3_key,
            "WECHATPAY_PRIVATE_KEY": self.merchant_private_key.strip().replace("\n", "\\n"),
            "WECHATPAY_CERT_SERIAL": self.merchant_serial,
            "WECHATPAY_PUBLIC_KEY": "",
            "WECHATPAY_PUBLIC_KEY_ID": "",
            "WECHATPAY_PLATFORM_CERT": "",
        }
        if mode == PUBLIC_KEY:
            env["WECHATPAY_PUBLIC_KEY"] = self.platform_public_key.strip().replace("\n", "\\n")
            env["WECHATPAY_PUBLIC_KEY_ID"] = self.public_key_id
        else:
            env["WECHATPAY_PLATFORM_CERT"] = self.platform_cert.strip().replace("\n", "\\n")
        return env


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def generate_keys(mchid: str = "1900000109") -> PayKeys:
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    serial = x509.random_serial_number()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake WeChat Pay platform")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(platform.public_key())
        .serial_number(serial)
        .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2099, 12, 31, tzinfo=UTC))
        .sign(platform, hashes.SHA256())
    )
    alphabet = string.ascii_letters + string.digits
    return PayKeys(
        mchid=mchid,
        apiv3_key="".join(secrets.choice(alphabet) for _ in range(32)),
        merchant_private_key=_private_pem(merchant),
        merchant_serial=format(x509.random_serial_number(), "X"),
        platform_private_key=_private_pem(platform),
        platform_public_key=platform.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
        public_key_id="PUB_KEY_ID_" + secrets.token_hex(16).upper(),
        platform_cert=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        platform_serial=format(serial, "X"),
    )


def rsa_sign(private_pem: str, message: bytes) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(public_pem: str, message: bytes, signature: str) -> bool:
    key = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(key, rsa.RSAPublicKey)
    try:
        key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except Exception:  # noqa: BLE001 - any failure is "not signed by this key"
        return False
    return True


def merchant_public_pem(keys: PayKeys) -> str:
    key = serialization.load_pem_private_key(keys.merchant_private_key.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def signed_headers(keys: PayKeys, mode: str, body: bytes, timestamp: int, nonce: str | None = None) -> dict[str, str]:
    """WeChat Pay's signature headers over `timestamp\\nnonce\\nbody\\n` (answers and notifications)."""
    nonce = nonce or secrets.token_hex(16)
    signature = rsa_sign(keys.platform_private_key, f"{timestamp}\n{nonce}\n".encode() + body + b"\n")
    return {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": keys.serial(mode),
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }


def encrypt_resource(apiv3_key: str, plain: dict[str, Any], associated_data: str) -> dict[str, str]:
    nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
    data = json.dumps(plain, ensure_ascii=False).encode()
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), data, associated_data.encode())
    return {
        "original_type": associated_data,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def envelope(apiv3_key: str, event_type: str, summary: str, resource: dict[str, Any], created: str) -> dict[str, Any]:
    kind = "transaction" if event_type.startswith("TRANSACTION.") else "refund"
    return {
        "id": str(uuid.uuid4()),
        "create_time": created,
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": encrypt_resource(apiv3_key, resource, kind),
    }


def encrypted_certificate(keys: PayKeys) -> dict[str, Any]:
    """`/v3/certificates`' item: the platform certificate, encrypted like a notification's resource."""
    nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(12))
    sealed = AESGCM(keys.apiv3_key.encode()).encrypt(nonce.encode(), keys.platform_cert.encode(), b"certificate")
    certificate = {"algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate",
                   "ciphertext": base64.b64encode(sealed).decode()}  # fmt: skip
    return {"serial_no": keys.platform_serial, "effective_time": "2000-01-01T00:00:00+08:00",
            "expire_time": "2099-12-31T00:00:00+08:00", "encrypt_certificate": certificate}  # fmt: skip


def save(keys: PayKeys, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(keys), out, indent=2)


def load(path: Path) -> PayKeys:
    return PayKeys(**json.loads(path.read_text(encoding="utf-8")))


def ensure_local_keys(secrets_file: Path) -> None:
    """`make run`: the fake's keys beside the secrets file (made once), and the merchant's side
    of them in it. WECHATPAY_* lines that belong to other fake keys (the keys file was deleted)
    are replaced: they serve nothing but this fake."""
    keys_file = secrets_file.parent / "wechatpay_fake.json"
    if not keys_file.exists():
        save(generate_keys(), keys_file)
    keys = load(keys_file)
    ours = keys.merchant_env()
    ours.pop("WECHATPAY_MCHID")  # not a secret: the stack's environment names it
    lines = secrets_file.read_text(encoding="utf-8").splitlines(keepends=True) if secrets_file.exists() else []
    found = dict(line.strip().partition("=")[::2] for line in lines if "=" in line and not line.startswith("#"))
    if found.get("WECHATPAY_PUBLIC_KEY_ID", ours["WECHATPAY_PUBLIC_KEY_ID"]) != ours["WECHATPAY_PUBLIC_KEY_ID"]:
        lines = [line for line in lines if not line.startswith("WECHATPAY_")]
        secrets_file.write_text("".join(lines), encoding="utf-8")
        found = {}
    with secrets_file.open("a", encoding="utf-8") as out:
        out.writelines(f"{name}={value}\n" for name, value in ours.items() if name not in found)


def local_pay_env(pay_port: int, api_port: int) -> dict[str, str]:
    """The stack's WeChat Pay settings that are not secrets: the fake's URL, our callback on the API."""
    return {
        "WECHATPAY_MCHID": "1900000109",
        "WECHATPAY_API_BASE": f"http://127.0.0.1:{pay_port}",
        "WECHATPAY_NOTIFY_URL": f"http://127.0.0.1:{api_port}/wechat/pay/notify",
    }
