"""wechatpy clients for the mini-program, the official account and WeChat Work, sharing one
access_token per app through DynamoDB (`chalicelib.wechat.tokens`).

Tokens: mini-program and official account use `POST /cgi-bin/stable_token`, which hands every
caller the same token while it is valid, so containers never invalidate each other's token;
WeChat Work uses `/cgi-bin/gettoken`, which also returns the same token while valid. A call
that WeChat answers with 40001/40014/42001 marks that exact token rejected, refreshes once
through the shared cache and is retried once.

Errors: an errcode from WeChat is `WeChatApiError`; no answer, an HTTP error or a body that is
not JSON is `WeChatUnreachable`. Neither chains the underlying exception: request URLs carry
the access_token, and token URLs the AppSecret. wechatpy and requests are imported on use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

from chalicelib.observability import logger
from chalicelib.settings import Settings, get_settings
from chalicelib.wechat.tokens import Fetch, SharedTokenStorage, TokenCache, TokenRefreshTimeout

App = Literal["mini", "mp", "work"]
T = TypeVar("T")

# 40001 invalid credential, 40014 invalid access token, 42001 expired: a fresh token may fix it.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
# -1 system busy, 45009 API quota, 45011 frequency, 45047 too many sends: try again later.
TRANSIENT_ERRCODES = frozenset({-1, 45009, 45011, 45047})
API_ROOT = {
    "mini": "https://api.weixin.qq.com/",
    "mp": "https://api.weixin.qq.com/",
    "work": "https://qyapi.weixin.qq.com/",
}


class WeChatApiError(Exception):
    """WeChat answered with an errcode other than 0."""

    def __init__(self, errcode: int, errmsg: str, rejected_token: str | None = None) -> None:
        super().__init__(f"WeChat errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self._rejected_token = rejected_token  # never in str()/repr()


class WeChatUnreachable(Exception):
    """No usable answer from WeChat: network error, timeout, HTTP error status or not JSON."""


_clients: dict[str, Any] = {}
_lock = threading.Lock()


def get_client(app: App) -> Any:
    with _lock:
        if app not in _clients:
            _clients[app] = build_client(app)
        return _clients[app]


def reset_clients() -> None:
    """Forget the clients and their in-process token copies (tests, or after settings changed)."""
    with _lock:
        _clients.clear()


def call(app: App, action: Callable[[Any], T], *, client: Any = None) -> T:
    """Run `action(client)`; on a rejected token, refresh it once (shared) and run it once more.
    `client` defaults to the process's client of `app` (tests pass one per simulated container)."""
    client = client or get_client(app)
    try:
        return _invoke(client, action)
    except WeChatApiError as error:
        # Only an answer to a request that carried a token: a token *fetch* answering 40001
        # (wrong AppSecret) is not fixed by fetching again.
        if error.errcode not in TOKEN_ERRCODES or error._rejected_token is None:
            raise
        logger.info("WeChat rejected the access token; refreshing", extra={"app": app, "errcode": error.errcode})
        client.session.cache.reject(error._rejected_token)
    _invoke(client, lambda c: c.fetch_access_token())
    return _invoke(client, action)


def get_json(app: App, path: str, params: dict[str, Any], *, with_token: bool = True) -> dict[str, Any]:
    """GET `path` (e.g. "cgi-bin/user/info") on WeChat's API host with the app's access_token.
    `with_token=False` for the few APIs that take the AppSecret instead (jscode2session)."""
    query = dict(params)
    if not with_token:
        query["access_token"] = None  # wechatpy adds a token only when the key is absent; requests drops None
    return _json(call(app, lambda client: client.get(_url(app, path), params=dict(query))))


def post_json(app: App, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST a JSON body (UTF-8, ensure_ascii=False, as wechatpy encodes dicts) with the access_token."""
    return _json(call(app, lambda client: client.post(_url(app, path), data=dict(body))))


def _url(app: App, path: str) -> str:
    return API_ROOT[app] + path.lstrip("/")


def _json(result: Any) -> dict[str, Any]:
    if not isinstance(result, dict):
        # wechatpy hands back the raw response when the body is not JSON.
        raise WeChatUnreachable("WeChat answered with a body that is not JSON")
    return result


def _invoke(client: Any, action: Callable[[Any], T]) -> T:
    import requests
    from wechatpy.exceptions import WeChatClientException

    try:
        return action(client)
    except WeChatClientException as exc:
        if exc.errcode is None:  # wechatpy's wrapper of an HTTP error status
            status = getattr(exc.response, "status_code", None)
            raise WeChatUnreachable(f"WeChat answered HTTP {status}") from None
        raise WeChatApiError(int(exc.errcode), str(exc.errmsg), _token_in(exc.request)) from None
    except TokenRefreshTimeout as exc:
        raise WeChatUnreachable(str(exc)) from None
    except (requests.RequestException, ValueError) as exc:
        logger.warning("WeChat unreachable", extra={"error": type(exc).__name__})
        raise WeChatUnreachable(type(exc).__name__) from None


def _token_in(request: Any) -> str | None:
    """The access_token a failed request carried, so exactly that token is marked rejected."""
    url = getattr(request, "url", None) or ""
    found = parse_qs(urlsplit(url).query).get("access_token")
    return found[0] if found else None


def build_client(app: App, settings: Settings | None = None) -> Any:
    """A new client with its own in-process token copy, like one more container (see `get_client`)."""
    from chalicelib.wechat.http import build_session

    settings = settings or get_settings()
    http = build_session(settings)
    timeout = settings.wechat_timeout_seconds
    if app == "work":
        from wechatpy.enterprise import WeChatClient as WorkClient

        appid, secret = settings.wechat_work_corpid, settings.wechat_work_secret
        client = WorkClient(appid, secret, timeout=timeout, auto_retry=False)
        fetch = _gettoken_fetch(appid, secret, http, timeout)
    else:
        from wechatpy import WeChatClient

        appid, secret = (
            (settings.wechat_mini_appid, settings.wechat_mini_secret)
            if app == "mini"
            else (settings.wechat_mp_appid, settings.wechat_mp_secret)
        )
        # auto_retry=False: wechatpy's own retry on 40001 recurses without limit; `call` retries once.
        client = WeChatClient(appid, secret, timeout=timeout, auto_retry=False)
        fetch = _stable_token_fetch(appid, secret, http, timeout)
    client._http = http
    cache = TokenCache(f"{app}:{appid}", fetch, can_force=app != "work")
    client.session = SharedTokenStorage(client.access_token_key, cache)
    # wechatpy asks for a token through `fetch_access_token`: send it through the shared cache.
    client.fetch_access_token = cache.refresh
    return client


def _stable_token_fetch(appid: str, secret: str, http: Any, timeout: float) -> Fetch:
    def fetch(force_refresh: bool) -> tuple[str, int]:
        body = {"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force_refresh}
        logger.info("fetching a stable access_token", extra={"appid": appid, "force_refresh": force_refresh})
        return _token_reply(lambda: http.post(API_ROOT["mini"] + "cgi-bin/stable_token", json=body, timeout=timeout))

    return fetch


def _gettoken_fetch(corpid: str, secret: str, http: Any, timeout: float) -> Fetch:
    def fetch(_force_refresh: bool) -> tuple[str, int]:
        params = {"corpid": corpid, "corpsecret": secret}
        logger.info("fetching a WeChat Work access_token", extra={"corpid": corpid})
        return _token_reply(lambda: http.get(API_ROOT["work"] + "cgi-bin/gettoken", params=params, timeout=timeout))

    return fetch


def _token_reply(send: Callable[[], Any]) -> tuple[str, int]:
    import requests

    try:
        response = send()
        reply = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise WeChatUnreachable(f"token fetch failed: {type(exc).__name__}") from None
    if response.status_code >= 400 or not isinstance(reply, dict):
        raise WeChatUnreachable(f"token fetch answered HTTP {response.status_code}")
    if int(reply.get("errcode") or 0) != 0:
        raise WeChatApiError(int(reply["errcode"]), str(reply.get("errmsg", "")))
    if not reply.get("access_token"):
        raise WeChatUnreachable("token fetch answered without access_token")
    return str(reply["access_token"]), int(reply.get("expires_in") or 7200)
