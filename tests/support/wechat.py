"""Callbacks as WeChat's servers sign and encrypt them (the builders of `local/wechat_call.py`,
with the test keys), and our replies read as WeChat reads them."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from chalicelib.clock import epoch_seconds
from local import wechat_call
from local.wechat_call import MP_ACCOUNT, Keys, mp_event, mp_text, signature, xml
from tests.support.env import TEST_ENV

__all__ = ["MP_ACCOUNT", "mp_event", "mp_text", "signature", "xml"]

XML_HEADERS = {"Content-Type": "text/xml"}
MP_KEYS = Keys(TEST_ENV["WECHAT_MP_TOKEN"], TEST_ENV["WECHAT_MP_AES_KEY"], TEST_ENV["WECHAT_MP_APPID"])
WORK_KEYS = Keys(TEST_ENV["WECHAT_WORK_TOKEN"], TEST_ENV["WECHAT_WORK_AES_KEY"], TEST_ENV["WECHAT_WORK_CORPID"])


def mp_safe(plain: str, *, nonce: str = "n0nce", timestamp: int | None = None) -> tuple[str, str]:
    return wechat_call.mp_safe(MP_KEYS, plain, nonce=nonce, timestamp=timestamp)


def work_post(plain: str, *, nonce: str = "w0nce", timestamp: int | None = None) -> tuple[str, str]:
    return wechat_call.work_post(WORK_KEYS, plain, nonce=nonce, timestamp=timestamp)


def contact_change(
    change_type: str, external_userid: str, userid: str = "staff_a", create_time: int | None = None
) -> str:
    return wechat_call.contact_change(WORK_KEYS.app_id, change_type, external_userid, userid, create_time)


def read_mp_reply(body: str) -> dict[str, str]:
    return wechat_call.read_mp_reply(MP_KEYS, body)


def mp_plain_query(*, nonce: str = "n0nce", timestamp: int | None = None, token: str | None = None) -> str:
    stamp = str(timestamp or int(epoch_seconds()))
    sig = signature(token or MP_KEYS.token, stamp, nonce)
    return f"/wechat/mp?{urlencode({'signature': sig, 'timestamp': stamp, 'nonce': nonce, 'openid': 'x'})}"


def work_crypto() -> Any:
    from wechatpy.enterprise.crypto import WeChatCrypto

    return WeChatCrypto(WORK_KEYS.token, WORK_KEYS.aes_key, WORK_KEYS.app_id)
