"""The fake WeChat Pay (local/fake_wechatpay.py) as fixtures: one server per session with keys of
its own, the merchant's settings pointed at it per test, and its notifications delivered into the
Chalice test client (what WeChat Pay's servers would POST to /wechat/pay/notify).

A test module takes them with `pytest_plugins = ["tests.support.wechatpay"]` (and its helpers from
tests/support/wallet.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from local import wechatpay_keys as wk
from local.fake_wechatpay import FakeWeChatPay, start_fake_wechatpay
from tests.support.api import Api
from tests.support.wallet import ENV_NAMES, KEYS, NOTIFY_PATH, SCALE, FakePay, apply_env, enable_wallet


@pytest.fixture(scope="session")
def pay_server() -> Iterator[tuple[FakeWeChatPay, str]]:
    state = FakeWeChatPay(KEYS, scale=SCALE, deliver=lambda url, body, headers: 0)
    server, url = start_fake_wechatpay(state)
    yield state, url
    state.reset()
    server.shutdown()


@pytest.fixture
def pay(api: Api, pay_server: tuple[FakeWeChatPay, str]) -> Iterator[FakePay]:
    """WeChat Pay configured (public-key mode) and the wallet offered: 充500送50, 充1000送150."""
    state, url = pay_server
    state.reset()
    state.mode = wk.PUBLIC_KEY
    intercept: list[int] = []

    def deliver(_url: str, body: bytes, headers: dict[str, str]) -> int:
        if intercept:
            return intercept.pop(0)
        return int(api.http.post(NOTIFY_PATH, body=body, headers=headers).status_code)

    state.deliveries.deliver = deliver
    notify_url = f"https://wx.example.com{NOTIFY_PATH}"
    apply_env({**KEYS.merchant_env(), "WECHATPAY_API_BASE": url, "WECHATPAY_NOTIFY_URL": notify_url})
    enable_wallet()
    try:
        yield FakePay(state, api, KEYS, url, intercept)
    finally:
        state.reset()
        for name in ENV_NAMES:  # whatever os.environ is now (the test client swaps it per request)
            os.environ.pop(name, None)
        from chalicelib.settings import get_settings

        get_settings.cache_clear()
