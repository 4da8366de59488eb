"""The mini-program adapter: login codes to sessions, phone codes to phone numbers.

WeChat's errcodes are translated here into domain errors, so services never see wechatpy:
a bad, used or missing code is the member's problem (`InvalidWeChatCode`); anything else
(network, 5xx, system busy, a token that stays rejected) is ours (`WeChatUnavailable`).

wechatpy and requests are imported inside functions, never at module import: every Lambda
imports the app, and most of them never call WeChat, so they must not pay for it at cold start.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.errors import InvalidWeChatCode, WeChatUnavailable
from chalicelib.observability import logger
from chalicelib.settings import get_settings

# 40029 invalid code, 40163 code already used, 40226 risky user blocked, 41008 missing code.
_INVALID_CODE_ERRCODES = frozenset({40029, 40163, 40226, 41008})
# 40001 invalid credential, 40014 invalid access token, 42001 expired: a fresh token may fix it.
_TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# wechatpy appends cgi-bin/ to relative URLs on the main client; the phone API lives at the root.
_API_ROOT = "https://api.weixin.qq.com/"
_PHONE_PATH = "wxa/business/getuserphonenumber"


@dataclass(frozen=True)
class WxSession:
    openid: str
    unionid: str | None
    # The session key decrypts the member's data: keep it out of logs and tracebacks.
    session_key: str = field(repr=False)


_client: Any = None
_client_lock = threading.Lock()


def build_client() -> Any:
    """A wechatpy `WeChatClient` whose HTTP goes through our rewriting session.

    The token cache is wechatpy's in-memory storage, i.e. one token per process; swap the
    `session=` storage here for a shared one when several containers must share a token.
    """
    from wechatpy import WeChatClient

    from chalicelib.wechat.http import build_session

    settings = get_settings()
    # auto_retry=False: wechatpy's own retry on 40001 recurses without limit; we retry once.
    client = WeChatClient(
        settings.wechat_mini_appid,
        settings.wechat_mini_secret,
        timeout=settings.wechat_timeout_seconds,
        auto_retry=False,
    )
    client._http = build_session(settings)
    return client


def get_client() -> Any:
    global _client
    with _client_lock:
        if _client is None:
            _client = build_client()
        return _client


def reset_client() -> None:
    """Forget the cached client (tests, or after the settings changed)."""
    global _client
    with _client_lock:
        _client = None


def code_to_session(code: str) -> WxSession:
    """登录: exchange a `wx.login()` code for the member's openid, unionid and session key."""
    result = _call(lambda client: client.wxa.code_to_session(code))
    if not result.get("openid") or not result.get("session_key"):
        raise WeChatUnavailable("jscode2session answered without openid or session_key")
    return WxSession(
        openid=str(result["openid"]),
        unionid=str(result["unionid"]) if result.get("unionid") else None,
        session_key=str(result["session_key"]),
    )


def get_phone_number(code: str) -> str:
    """手机号快速验证: exchange a `getPhoneNumber` code for the phone number without country code."""
    # wechatpy 1.8 has no helper for this API, so post to it directly.
    result = _call(lambda client: client.post(_PHONE_PATH, data={"code": code}, api_base_url=_API_ROOT))
    phone = (result.get("phone_info") or {}).get("purePhoneNumber")
    if not phone:
        raise WeChatUnavailable("getuserphonenumber answered without purePhoneNumber")
    return str(phone)


def _call(action: Callable[[Any], Any]) -> dict[str, Any]:
    import requests
    from wechatpy.exceptions import WeChatClientException

    try:
        result = _with_one_token_refresh(get_client(), action)
    except WeChatClientException as exc:
        raise _domain_error(exc.errcode) from exc
    except (requests.RequestException, ValueError) as exc:
        # Connection refused, timeout, or a body that is not JSON. `from None`: the message of a
        # requests error quotes the URL, and jscode2session carries the AppSecret in its query.
        logger.warning("WeChat unreachable", extra={"error": type(exc).__name__})
        raise WeChatUnavailable(type(exc).__name__) from None
    if not isinstance(result, dict):
        # wechatpy hands back the raw response when the body is not JSON.
        raise WeChatUnavailable("WeChat answered with a body that is not JSON")
    return result


def _with_one_token_refresh(client: Any, action: Callable[[Any], Any]) -> Any:
    from wechatpy.exceptions import WeChatClientException

    try:
        return action(client)
    except WeChatClientException as exc:
        if exc.errcode not in _TOKEN_ERRCODES:
            raise
        logger.info("WeChat rejected the access token; fetching a fresh one", extra={"errcode": exc.errcode})
    client.fetch_access_token()
    return action(client)


def _domain_error(errcode: int | None) -> Exception:
    if errcode in _INVALID_CODE_ERRCODES:
        return InvalidWeChatCode(f"WeChat errcode {errcode}")
    # errcode None is an HTTP error status; -1 is "system busy"; the rest are our own faults.
    logger.warning("WeChat call failed", extra={"errcode": errcode})
    return WeChatUnavailable(f"WeChat errcode {errcode}")
