"""Typed settings, read on first use (and again, with the secrets, every SECRETS_MAX_AGE_SECONDS).

Values come from the environment. Secrets (keys, AppSecret) may instead come from a
local dotenv-style file (`SECRETS_FILE`, dev only, never in git) or from SSM Parameter
Store (`SECRETS_SSM_PATH`, in the cloud); the environment always wins.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from chalicelib import clock

SECRET_NAMES = (
    "JWT_SECRET",
    "PHONE_ENC_KEY",
    "PHONE_HASH_KEY",
    "WECHAT_MINI_SECRET",
    "WECHAT_MP_SECRET",
    "WECHAT_MP_TOKEN",
    "WECHAT_MP_AES_KEY",
    "WECHAT_WORK_SECRET",
    "WECHAT_WORK_TOKEN",
    "WECHAT_WORK_AES_KEY",
    "POS_CLIENTS",
    "COUPON_QR_SECRET",
    "MEMBER_CODE_SECRET",
    # WeChat Pay APIv3: the merchant's keys, and WeChat Pay's public material that travels with them.
    "WECHATPAY_APIV3_KEY",
    "WECHATPAY_PRIVATE_KEY",
    "WECHATPAY_CERT_SERIAL",
    "WECHATPAY_PUBLIC_KEY",
    "WECHATPAY_PUBLIC_KEY_ID",
    "WECHATPAY_PLATFORM_CERT",
)
_MINIMUMS = {
    "earn_points_per_unit": 0,
    "earn_unit_fen": 1,
    "adjust_approval_threshold": 0,
    "jwt_ttl_seconds": 60,
    "operator_token_ttl_seconds": 60,
    "dormant_days": 1,
    "wechat_callback_dedup_seconds": 60,
    "order_max_future_seconds": 0,
    "operator_lockout_failures": 1,
    "operator_lockout_seconds": 1,
    "order_backdate_days": 0,
    "secrets_max_age_seconds": 1,
    "coupon_qr_valid_seconds": 10,
    "coupon_qr_refresh_seconds": 5,
    "wechatpay_timeout_seconds": 0.5,
    "wechatpay_notify_max_skew_seconds": 1,
    "wallet_topup_expire_minutes": 1,
    "wallet_settle_after_minutes": 1,
}
_CONFIG_DIR = Path(__file__).parent / "config"


@dataclass(frozen=True)
class Settings:
    """A plain dataclass, not pydantic: settings are read on every cold start, before any
    request model is needed, and importing pydantic there costs tens of milliseconds."""

    stage: str = "local"
    region: str = "us-east-1"
    table_prefix: str = "wxmember-local-"
    timezone: str = "Asia/Shanghai"

    wechat_api_base: str | None = None
    wechat_mini_appid: str = "wx_demo_mini"
    wechat_mini_secret: str = field(default="", repr=False)
    wechat_timeout_seconds: float = 3.0
    # Official account (公众号). An empty AES key means plaintext mode; with a key, the mode
    # (compatible or safe) is read from each request's `encrypt_type`.
    wechat_mp_appid: str = "wx_demo_mp"
    wechat_mp_secret: str = field(default="", repr=False)
    wechat_mp_token: str = field(default="", repr=False)
    wechat_mp_aes_key: str = field(default="", repr=False)
    wechat_mp_points_menu_key: str = "MY_POINTS"
    # WeChat Work (企业微信): the customer-contact (客户联系) secret and the callback keys.
    wechat_work_corpid: str = "ww_demo_corp"
    wechat_work_agentid: str = "1000002"
    wechat_work_secret: str = field(default="", repr=False)
    wechat_work_token: str = field(default="", repr=False)
    wechat_work_aes_key: str = field(default="", repr=False)
    wechat_callback_dedup_seconds: int = 3 * 24 * 3600
    # Subscribe messages go to the released mini-program unless a stage says otherwise.
    wechat_mini_program_state: str = "formal"

    # The outbox table's stream, for the relay's event source. `make package` replaces it with the
    # stack's own (Fn::GetAtt OutboxTable.StreamArn); unset, it names this prefix's outbox table,
    # whose stream the local worker finds by that name.
    outbox_stream_arn: str = ""
    events_queue_name: str = "wxmember-local-events"
    events_dlq_name: str = "wxmember-local-events-dlq"
    notify_templates_file: str = str(_CONFIG_DIR / "notify_templates.zh-CN.json")
    wechat_replies_file: str = str(_CONFIG_DIR / "wechat_replies.zh-CN.json")
    expiry_reminder_days: str = "30,7"
    dormant_days: int = 30

    jwt_secret: str = field(default="", repr=False)
    jwt_ttl_seconds: int = 7200
    phone_enc_key: str = field(default="", repr=False)
    phone_hash_key: str = field(default="", repr=False)
    pos_clients: dict[str, str] = field(default_factory=dict, repr=False)
    # The HMAC key of coupon QR payloads (domain/coupon_codes.py); unset, one derived from JWT_SECRET.
    coupon_qr_secret: str = field(default="", repr=False)
    coupon_qr_valid_seconds: int = 90  # a payload (a screenshot of it) works this long
    coupon_qr_refresh_seconds: int = 60  # the member's app fetches a fresh one this often
    # A coupon used on an order that is cancelled or refunded comes back: never | while_valid | always.
    coupon_return_policy: str = "while_valid"
    coupon_reminder_days: str = "3"  # coupon expiry reminders, days before the last valid day ("7,3")
    # The HMAC key of the member's dynamic code (services/member_code.py), timed as the coupon QR;
    # unset, one derived from JWT_SECRET (another derivation than the coupon QR's).
    member_code_secret: str = field(default="", repr=False)
    # WeChat Pay APIv3 (微信支付, stored-value top-ups, chalicelib/wechat/pay.py). Ours: the merchant id,
    # APIv3 key, API private key (PEM; `\n` escapes allowed) and its certificate's serial. WeChat Pay's:
    # the public key + its id (WeChat Pay public-key mode, what new merchants get) and/or the platform
    # certificate (PEM; older merchants), which verify its answers and notifications.
    wechatpay_mchid: str = ""
    wechatpay_appid: str = ""  # empty: the mini-program's (WECHAT_MINI_APPID)
    wechatpay_apiv3_key: str = field(default="", repr=False)
    wechatpay_private_key: str = field(default="", repr=False)
    wechatpay_cert_serial: str = ""
    wechatpay_public_key: str = ""
    wechatpay_public_key_id: str = ""
    wechatpay_platform_cert: str = ""
    wechatpay_notify_url: str = ""  # https://<api>/wechat/pay/notify, as WeChat Pay reaches it
    wechatpay_api_base: str = "https://api.mch.weixin.qq.com"
    wechatpay_timeout_seconds: float = 3.0  # WeChat Pay answers a notification's sender within 5 s
    wechatpay_notify_max_skew_seconds: int = 300  # a notification's Wechatpay-Timestamp, either way
    wallet_topup_expire_minutes: int = 15  # an unpaid top-up's WeChat Pay order closes after this
    wallet_settle_after_minutes: int = 5  # the settle-topups job asks WeChat Pay about older ones
    checkout_hold_minutes: int = 15  # a checkout's coupon, points and wallet wait this long for its WeChat Pay part
    # The WeChat member card (会员卡, chalicelib/wechat/member_card.py): which API carries it
    # (official_account: built; wechatpay_v3: the seam only) and the card_id whose form operators set.
    member_card_api: str = "official_account"
    member_card_id: str = ""
    operator_token_ttl_seconds: int = 1800  # a console token; the console signs in again after it
    operator_lockout_failures: int = 5
    operator_lockout_seconds: int = 900
    pos_signature_max_skew_seconds: int = 300
    pos_signature_max_future_seconds: int = 30
    # An order's paid_at may run ahead of our clock by the skew, and lag by the backdating window.
    order_max_future_seconds: int = 300
    order_backdate_days: int = 30

    points_expiry_policy: str = "rolling:12"
    earn_points_per_unit: int = 1
    earn_unit_fen: int = 100
    adjust_approval_threshold: int = 1000  # per operator and member within a rolling 24 h
    adjust_operator_daily_limit: int = 10_000  # per operator, all members, one local day
    default_tier_code: str = "normal"
    # A published programme version is in force in every container within this time (services/programme.py).
    programme_cache_seconds: int = 30

    messages_file: str = str(_CONFIG_DIR / "messages.zh-CN.json")
    tiers_file: str = str(_CONFIG_DIR / "tiers.json")
    max_body_bytes: int = 16 * 1024
    tx_max_attempts: int = 12
    # A warm container re-reads its secrets (SSM) once they are this old: a rotated key takes effect.
    secrets_max_age_seconds: int = 300

    def __post_init__(self) -> None:
        for name, minimum in _MINIMUMS.items():
            if getattr(self, name) < minimum:
                raise ValueError(f"{name.upper()} must be at least {minimum}")

    def table_name(self, short: str) -> str:
        return f"{self.table_prefix}{short}"

    @property
    def relay_stream_arn(self) -> str:
        placeholder = f"arn:aws:dynamodb:{self.region}:000000000000:table/{self.table_name('outbox')}/stream/local"
        return self.outbox_stream_arn or placeholder


def _convert(name: str, kind: str, raw: str) -> Any:
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("dict"):
            value = json.loads(raw) if raw.strip() else {}
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ValueError("expected a JSON object of strings")
            return value
    except ValueError as error:
        raise ValueError(f"{name.upper()}: {error}") from error
    return raw


def read_secrets_file(path: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def _read_ssm_secrets(path: str, max_age: int) -> dict[str, str]:
    # Imported here: only cloud stages pay for it, and once per max_age per container.
    from aws_lambda_powertools.utilities import parameters

    found = parameters.get_parameters(path, decrypt=True, max_age=max_age)
    return {name.upper(): str(value) for name, value in found.items()}


def load_settings(environ: dict[str, str] | None = None, *, with_secrets: bool = True) -> Settings:
    env = dict(os.environ if environ is None else environ)
    secrets: dict[str, str] = {}
    if with_secrets and env.get("SECRETS_FILE") and Path(env["SECRETS_FILE"]).exists():
        secrets.update(read_secrets_file(env["SECRETS_FILE"]))
    if with_secrets and env.get("SECRETS_SSM_PATH"):
        max_age = _convert("secrets_max_age_seconds", "int", env.get("SECRETS_MAX_AGE_SECONDS") or "300")
        secrets.update(_read_ssm_secrets(env["SECRETS_SSM_PATH"], max_age))
    merged = {k: v for k, v in secrets.items() if k in SECRET_NAMES} | env
    if "AWS_REGION" not in merged and "AWS_DEFAULT_REGION" in merged:
        merged["AWS_REGION"] = merged["AWS_DEFAULT_REGION"]
    values = {
        spec.name: _convert(spec.name, str(spec.type), merged[spec.name.upper()])
        for spec in fields(Settings)
        if spec.name.upper() in merged
    }
    if "AWS_REGION" in merged:
        values["region"] = merged["AWS_REGION"]
    return Settings(**values)


class _SettingsCache:
    """`get_settings()`: the settings, read on first use and again once older than
    SECRETS_MAX_AGE_SECONDS, so a warm container honours a rotated secret as SSM's own cache
    age does; each call costs one clock read. `get_settings.cache_clear()` forgets them (tests)."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._loaded_at = 0.0

    def __call__(self) -> Settings:
        settings = self._settings
        # A clock set back (tests pin it per test) keeps them: only age forward expires them.
        if settings is not None and clock.epoch_seconds() - self._loaded_at < settings.secrets_max_age_seconds:
            return settings
        settings = load_settings()
        # Timed after the read: this cache expires after Powertools' (same max age), never before.
        self._settings, self._loaded_at = settings, clock.epoch_seconds()
        return settings

    def cache_clear(self) -> None:
        self._settings = None


get_settings = _SettingsCache()


def table_settings() -> Settings:
    """Settings without secrets, for what must be known at import time (table names,
    region): importing the app — in a Lambda cold start or in `chalice package` — never
    calls SSM."""
    return load_settings(with_secrets=False)
