"""The mini-program adapter: login codes to sessions, phone codes to phone numbers.

WeChat's errcodes are translated here into domain errors, so services never see wechatpy:
a bad, used or missing code is the member's problem (`InvalidWeChatCode`, or for a phone code
`InvalidPhoneCode`: the member's login is fine, only the phone authorisation must be redone);
anything else (network, 5xx, system busy, a token that stays rejected) is ours (`WeChatUnavailable`).

The client and its access_token come from `clients` (one token per app, shared by every
Lambda through DynamoDB). wechatpy and requests are imported on use, never at module import:
every Lambda imports the app, and most of them never call WeChat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.errors import InvalidPhoneCode, InvalidWeChatCode, WeChatUnavailable
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.wechat import clients

# 40029 invalid code, 40163 code already used, 40226 risky user blocked, 41008 missing code.
_INVALID_CODE_ERRCODES = frozenset({40029, 40163, 40226, 41008})
_SESSION_PATH = "sns/jscode2session"
_PHONE_PATH = "wxa/business/getuserphonenumber"


@dataclass(frozen=True)
class WxSession:
    openid: str
    unionid: str | None
    # The session key decrypts the member's data: keep it out of logs and tracebacks.
    session_key: str = field(repr=False)


def get_client() -> Any:
    """The process's mini-program client (shared DynamoDB token cache, see `clients`)."""
    return clients.get_client("mini")


def reset_client() -> None:
    """Forget the cached clients (tests, or after the settings changed)."""
    clients.reset_clients()


def code_to_session(code: str) -> WxSession:
    """登录: exchange a `wx.login()` code for the member's openid, unionid and session key.
    jscode2session authenticates with the AppSecret, so login never needs an access_token."""
    settings = get_settings()
    params = {
        "appid": settings.wechat_mini_appid,
        "secret": settings.wechat_mini_secret,
        "js_code": code,
        "grant_type": "authorization_code",
    }
    result = _call(lambda: clients.get_json("mini", _SESSION_PATH, params, with_token=False))
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
    try:
        result = _call(lambda: clients.post_json("mini", _PHONE_PATH, {"code": code}))
    except InvalidWeChatCode as error:
        raise InvalidPhoneCode(error.detail, field="code") from None
    phone = (result.get("phone_info") or {}).get("purePhoneNumber")
    if not phone:
        raise WeChatUnavailable("getuserphonenumber answered without purePhoneNumber")
    return str(phone)


def _call(request: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return request()
    except clients.WeChatApiError as error:
        raise _domain_error(error.errcode) from None
    except clients.WeChatUnreachable as error:
        # No chaining: the message of a requests error quotes the URL, and jscode2session
        # carries the AppSecret in its query.
        logger.warning("WeChat unreachable", extra={"error": str(error)})
        raise WeChatUnavailable(str(error)) from None


def _domain_error(errcode: int) -> Exception:
    if errcode in _INVALID_CODE_ERRCODES:
        return InvalidWeChatCode(f"WeChat errcode {errcode}")
    # -1 is "system busy"; a token that stays rejected and the rest are our own faults.
    logger.warning("WeChat call failed", extra={"errcode": errcode})
    return WeChatUnavailable(f"WeChat errcode {errcode}")
