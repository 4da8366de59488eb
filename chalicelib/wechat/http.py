"""The HTTP session every WeChat client uses, with an optional redirect to a local fake.

wechatpy 1.8 has no single base-URL switch: each sub-client carries its own `API_BASE_URL`
and the token URL is hard-coded in `fetch_access_token`. So instead of patching wechatpy we
rewrite the WeChat hosts at the transport, where every request passes.

This module imports requests at module level; import it from inside functions only, so a
Lambda that never calls WeChat does not pay for it at cold start.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from chalicelib.settings import Settings, get_settings

WECHAT_HOSTS = frozenset({"api.weixin.qq.com", "qyapi.weixin.qq.com", "api.mch.weixin.qq.com"})

Timeout = float | tuple[float | None, float | None] | None


def rewrite_url(url: str, api_base: str | None) -> str:
    """The URL to call: WeChat hosts moved onto `api_base` (path and query kept), others unchanged."""
    parts = urlsplit(url)
    if not api_base or parts.hostname not in WECHAT_HOSTS:
        return url
    query = f"?{parts.query}" if parts.query else ""
    return f"{api_base.rstrip('/')}{parts.path}{query}"


class WeChatAdapter(HTTPAdapter):
    """Sends WeChat requests to `api_base` when set, with a default timeout."""

    def __init__(self, api_base: str | None, timeout_seconds: float) -> None:
        super().__init__()
        self.api_base = api_base
        self.timeout_seconds = timeout_seconds

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Timeout = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        original = request.url or ""
        request.url = rewrite_url(original, self.api_base)
        if request.url != original:
            # Proxies were chosen for the WeChat host; the fake is local and must be reached directly.
            proxies = {}
        # wechatpy fetches tokens without any timeout; a hung WeChat must not hang the Lambda.
        timeout = self.timeout_seconds if timeout is None else timeout
        return super().send(request, stream, timeout, verify, cert, proxies)


def build_session(settings: Settings | None = None) -> requests.Session:
    settings = settings or get_settings()
    session = requests.Session()
    adapter = WeChatAdapter(settings.wechat_api_base, settings.wechat_timeout_seconds)
    # Mounted on http:// too, so a plain-http WeChat URL cannot slip past the rewrite.
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
