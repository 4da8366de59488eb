"""The shared access_token cache, through the real wechatpy clients, against the fake WeChat API
and the embedded DynamoDB. "Fetches" are the token calls the fake recorded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from chalicelib.clock import epoch_seconds
from chalicelib.settings import get_settings
from chalicelib.store import token_repo
from chalicelib.wechat import clients, miniprogram
from chalicelib.wechat.tokens import VALID_MARGIN_SECONDS

MINI_KEY = "mini:wx_test_mini"
PHONE_PATH = "wxa/business/getuserphonenumber"


class Fake:
    def __init__(self, url: str) -> None:
        self.url = url

    def control(self, path: str, payload: dict[str, Any] | None = None) -> None:
        requests.post(f"{self.url}{path}", json=payload or {}, timeout=5).raise_for_status()

    def calls(self, path: str) -> list[dict[str, Any]]:
        found = requests.get(f"{self.url}/_calls", timeout=5).json()
        return [call for call in found if call["path"] == path]

    def stable_fetches(self) -> list[bool]:
        """force_refresh of each stable_token call, in order."""
        return [bool(call["body"].get("force_refresh")) for call in self.calls("/cgi-bin/stable_token")]

    def tokens_used(self, path: str) -> list[str]:
        return [call["query"].get("access_token") for call in self.calls(path)]


@pytest.fixture
def fake(tables: None, fake_wechat: str) -> Iterator[Fake]:
    requests.post(f"{fake_wechat}/_reset", timeout=5).raise_for_status()
    get_settings.cache_clear()
    clients.reset_clients()
    yield Fake(fake_wechat)
    clients.reset_clients()


def phone(client: Any = None) -> str:
    reply = clients.call(
        "mini", lambda c: c.post(clients.API_ROOT["mini"] + PHONE_PATH, data={"code": "phone:138"}), client=client
    )
    return str(reply["phone_info"]["purePhoneNumber"])


def test_first_call_fetches_one_stable_token_and_stores_it_with_its_expiry(fake: Fake) -> None:
    before = epoch_seconds()
    clients.post_json("mini", PHONE_PATH, {"code": "phone:13800138000"})

    item = token_repo.read(MINI_KEY)
    assert fake.stable_fetches() == [False]
    assert item is not None and item.token == fake.tokens_used("/wxa/business/getuserphonenumber")[0]
    assert before + 7200 <= (item.expires_at or 0) <= epoch_seconds() + 7200
    assert item.lease_owner is None and item.lease_until is None


def test_warm_calls_fetch_no_token(fake: Fake) -> None:
    for _ in range(5):
        phone()

    assert fake.stable_fetches() == [False]
    assert len(set(fake.tokens_used("/wxa/business/getuserphonenumber"))) == 1


def test_a_new_container_uses_the_shared_token_without_fetching(fake: Fake) -> None:
    phone(clients.build_client("mini"))
    phone(clients.build_client("mini"))

    assert fake.stable_fetches() == [False]
    assert len(set(fake.tokens_used("/wxa/business/getuserphonenumber"))) == 1


def test_rejected_token_is_refreshed_once_and_the_call_retried(fake: Fake) -> None:
    phone()
    fake.control("/_invalidate_tokens")

    assert phone() == "138"
    used = fake.tokens_used("/wxa/business/getuserphonenumber")
    assert fake.stable_fetches() == [False, False]
    assert len(used) == 3 and used[1] == used[0] != used[2]
    assert (token_repo.read(MINI_KEY) or token_repo.TokenItem("")).token == used[2]


def test_stable_token_returning_the_rejected_token_forces_one_refresh(fake: Fake) -> None:
    phone()
    fake.control("/_invalidate_tokens", {"keep_stable": True})

    assert phone() == "138"
    assert fake.stable_fetches() == [False, False, True]


def test_other_containers_take_a_refreshed_token_from_the_shared_item(fake: Fake) -> None:
    first, second = clients.build_client("mini"), clients.build_client("mini")
    phone(first), phone(second)
    fake.control("/_invalidate_tokens", {"keep_stable": True})

    phone(first)  # rejected, refreshed with force
    phone(second)  # rejected too, but the item already holds the new token

    assert fake.stable_fetches() == [False, False, True]


def test_token_within_the_margin_of_its_expiry_is_fetched_again(fake: Fake) -> None:
    now = epoch_seconds()
    assert token_repo.try_lease(MINI_KEY, "seed", now, 10) is not None
    token_repo.store_token(MINI_KEY, "seed", "old-token", now + VALID_MARGIN_SECONDS - 5)

    phone()

    assert fake.stable_fetches() == [False]
    assert "old-token" not in fake.tokens_used("/wxa/business/getuserphonenumber")


def test_work_uses_gettoken_and_its_own_item(fake: Fake) -> None:
    reply = clients.get_json("work", "cgi-bin/auth/getuserinfo", {"code": "staff:lisi"})

    assert reply["userid"] == "lisi"
    assert len(fake.calls("/cgi-bin/gettoken")) == 1 and fake.stable_fetches() == []
    assert token_repo.read("work:ww_test_corp") is not None


def test_mini_and_mp_share_no_token(fake: Fake) -> None:
    clients.get_json("mp", "cgi-bin/user/info", {"openid": "mp_alice"})
    phone()

    mini, mp = token_repo.read(MINI_KEY), token_repo.read("mp:wx_test_mp")
    assert mini is not None and mp is not None and mini.token != mp.token
    assert [call["body"]["appid"] for call in fake.calls("/cgi-bin/stable_token")] == ["wx_test_mp", "wx_test_mini"]


def test_login_needs_no_access_token(fake: Fake) -> None:
    assert miniprogram.code_to_session("demo:alice").openid == "o_alice"

    assert fake.stable_fetches() == []
    assert fake.tokens_used("/sns/jscode2session") == [None]


def test_wechat_errcode_is_a_wechat_api_error_and_is_not_retried(fake: Fake) -> None:
    with pytest.raises(clients.WeChatApiError) as raised:
        clients.get_json("work", "cgi-bin/auth/getuserinfo", {"code": "forged"})

    assert raised.value.errcode == 40029
    assert len(fake.calls("/cgi-bin/auth/getuserinfo")) == 1


def test_token_fetch_answering_40001_is_not_fetched_again(fake: Fake) -> None:
    # WeChat answers a token fetch with a wrong AppSecret with 40001: fetching again cannot help.
    fake.control("/_fail", {"path": "/cgi-bin/stable_token", "times": 5, "errcode": 40001})

    with pytest.raises(clients.WeChatApiError):
        phone()
    assert fake.stable_fetches() == [False]


def test_http_error_is_unreachable_without_chaining_the_request(fake: Fake) -> None:
    phone()
    fake.control("/_fail", {"path": "/wxa/business/getuserphonenumber", "times": 1, "status": 502})

    with pytest.raises(clients.WeChatUnreachable) as raised:
        phone()

    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert "fake-token" not in str(raised.value)


def test_post_json_sends_chinese_text_intact(fake: Fake) -> None:
    body = {"touser": "o_a", "template_id": "T", "data": {"thing1": {"value": "积分即将过期"}}}

    clients.post_json("mini", "cgi-bin/message/subscribe/send", body)

    sent = requests.get(f"{fake.url}/_sent", timeout=5).json()
    assert sent[0]["body"]["data"]["thing1"]["value"] == "积分即将过期"
