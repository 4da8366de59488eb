"""The mini-program adapter, driven through the real wechatpy client against the local fake WeChat.

Every socket opened here must go to 127.0.0.1: a guard refuses any other address (and any DNS
lookup of a non-local name), so a missed URL rewrite fails the test instead of calling WeChat.
"""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from chalicelib.domain.errors import InvalidWeChatCode, WeChatUnavailable
from chalicelib.settings import get_settings
from chalicelib.wechat import miniprogram
from chalicelib.wechat.http import rewrite_url
from local.fake_wechat import start_fake_wechat

_LOOPBACK = {"127.0.0.1", "localhost"}


@pytest.fixture(autouse=True)
def only_loopback(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the host of every socket connect; refuses anything that is not 127.0.0.1."""
    connected: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else str(address)
        if host not in _LOOPBACK:
            raise AssertionError(f"test tried to connect to {host}")
        connected.append(host)
        real_connect(sock, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOOPBACK:
            raise AssertionError(f"test tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    return connected


PointAdapter = Callable[..., None]


@pytest.fixture
def point_adapter(monkeypatch: pytest.MonkeyPatch, tables: None) -> Iterator[PointAdapter]:
    """Points the settings (and a fresh adapter client) at `api_base`; restores both afterwards."""

    def point(api_base: str, timeout: float = 3.0) -> None:
        monkeypatch.setenv("WECHAT_API_BASE", api_base)
        monkeypatch.setenv("WECHAT_MINI_APPID", "wx_test_mini")
        monkeypatch.setenv("WECHAT_MINI_SECRET", "test-mini-secret")
        monkeypatch.setenv("WECHAT_TIMEOUT_SECONDS", str(timeout))
        get_settings.cache_clear()
        miniprogram.reset_client()

    yield point
    get_settings.cache_clear()
    miniprogram.reset_client()


@pytest.fixture
def fake_wechat(point_adapter: PointAdapter) -> Iterator[str]:
    server, url = start_fake_wechat(port=0)
    point_adapter(url)
    yield url
    server.shutdown()
    server.server_close()


def _calls(url: str, path: str | None = None) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = requests.get(f"{url}/_calls", timeout=5).json()
    return [call for call in calls if path is None or call["path"] == path]


def _control(url: str, path: str, payload: dict[str, Any] | None = None) -> None:
    requests.post(f"{url}{path}", json=payload, timeout=5).raise_for_status()


def test_demo_code_yields_openid_unionid_and_a_16_byte_session_key(fake_wechat: str) -> None:
    session = miniprogram.code_to_session("demo:alice")

    assert (session.openid, session.unionid) == ("o_alice", "u_alice")
    assert len(base64.b64decode(session.session_key)) == 16
    assert session.session_key not in repr(session)


def test_demo_codes_may_be_reused_and_give_the_same_session(fake_wechat: str) -> None:
    assert miniprogram.code_to_session("demo:bob") == miniprogram.code_to_session("demo:bob")


def test_nounion_code_yields_openid_without_unionid(fake_wechat: str) -> None:
    session = miniprogram.code_to_session("nounion:carol")

    assert (session.openid, session.unionid) == ("o_carol", None)


def test_unknown_login_code_is_an_invalid_wechat_code(fake_wechat: str) -> None:
    with pytest.raises(InvalidWeChatCode):
        miniprogram.code_to_session("forged-code")


def test_phone_code_yields_the_pure_phone_number(fake_wechat: str) -> None:
    assert miniprogram.get_phone_number("phone:13800138000") == "13800138000"


def test_bad_phone_code_is_an_invalid_wechat_code(fake_wechat: str) -> None:
    with pytest.raises(InvalidWeChatCode):
        miniprogram.get_phone_number("phone:not-digits")


def test_rejected_access_token_is_refreshed_once_and_the_call_succeeds(fake_wechat: str) -> None:
    miniprogram.get_phone_number("phone:13800138000")
    _control(fake_wechat, "/_invalidate_tokens")

    assert miniprogram.get_phone_number("phone:13900139000") == "13900139000"
    assert len(_calls(fake_wechat, "/cgi-bin/stable_token")) == 2
    assert len(_calls(fake_wechat, "/wxa/business/getuserphonenumber")) == 3


def test_token_rejected_again_after_one_refresh_is_wechat_unavailable(
    fake_wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = miniprogram.get_client()
    miniprogram.get_phone_number("phone:13800138000")
    _control(fake_wechat, "/_invalidate_tokens")
    refreshes: list[int] = []
    # A refresh that changes nothing: WeChat keeps rejecting the token.
    monkeypatch.setattr(client, "fetch_access_token", lambda: refreshes.append(1))

    with pytest.raises(WeChatUnavailable):
        miniprogram.get_phone_number("phone:13900139000")
    assert refreshes == [1]
    assert len(_calls(fake_wechat, "/wxa/business/getuserphonenumber")) == 3


def test_http_500_from_wechat_is_wechat_unavailable_and_clears_after(fake_wechat: str) -> None:
    _control(fake_wechat, "/_fail", {"path": "/sns/jscode2session", "times": 1, "status": 500})

    with pytest.raises(WeChatUnavailable):
        miniprogram.code_to_session("demo:alice")
    assert miniprogram.code_to_session("demo:alice").openid == "o_alice"


def test_system_busy_errcode_is_wechat_unavailable(fake_wechat: str) -> None:
    # The fake answers an injected failure with errcode -1, WeChat's "system busy".
    _control(fake_wechat, "/_fail", {"path": "/sns/jscode2session", "times": 1, "status": 200})

    with pytest.raises(WeChatUnavailable):
        miniprogram.code_to_session("demo:alice")


def test_unreachable_wechat_is_wechat_unavailable(point_adapter: PointAdapter) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    point_adapter(f"http://127.0.0.1:{closed_port}")

    with pytest.raises(WeChatUnavailable):
        miniprogram.code_to_session("demo:alice")


def test_silent_wechat_times_out_as_wechat_unavailable(point_adapter: PointAdapter) -> None:
    # A listening socket that never answers; wechatpy sets no timeout on its token fetch,
    # so this passes only if the session's default timeout applies.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        point_adapter(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)

        with pytest.raises(WeChatUnavailable):
            miniprogram.get_phone_number("phone:13800138000")


def test_wechat_calls_reach_only_the_local_fake(fake_wechat: str, only_loopback: list[str]) -> None:
    miniprogram.code_to_session("demo:alice")
    miniprogram.get_phone_number("phone:13800138000")

    assert only_loopback and set(only_loopback) <= _LOOPBACK
    paths = [call["path"] for call in _calls(fake_wechat)]
    assert {"/cgi-bin/stable_token", "/sns/jscode2session", "/wxa/business/getuserphonenumber"} <= set(paths)


def test_one_wechat_client_per_process(fake_wechat: str) -> None:
    assert miniprogram.get_client() is miniprogram.get_client()


def test_only_wechat_hosts_are_rewritten_keeping_path_and_query() -> None:
    base = "http://127.0.0.1:8090"

    assert rewrite_url("https://api.weixin.qq.com/sns/x?a=1&b=2", base) == f"{base}/sns/x?a=1&b=2"
    assert rewrite_url("https://api.mch.weixin.qq.com/v3/pay", base + "/") == f"{base}/v3/pay"
    assert rewrite_url("https://example.com/x?y=1", base) == "https://example.com/x?y=1"
    assert rewrite_url("https://api.weixin.qq.com/cgi-bin/token", None) == "https://api.weixin.qq.com/cgi-bin/token"
