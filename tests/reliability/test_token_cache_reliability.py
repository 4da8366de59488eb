"""The shared access_token under concurrency and faults. Each thread is its own "container":
a client of its own (own in-process copy), sharing only DynamoDB and WeChat, as Lambdas do."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from chalicelib.clock import epoch_seconds
from chalicelib.settings import get_settings
from chalicelib.store import token_repo
from chalicelib.wechat import clients

N = 16
MINI_KEY = "mini:wx_test_mini"
PHONE_URL = clients.API_ROOT["mini"] + "wxa/business/getuserphonenumber"


class Fake:
    def __init__(self, url: str) -> None:
        self.url = url

    def control(self, path: str, payload: dict[str, Any] | None = None) -> None:
        requests.post(f"{self.url}{path}", json=payload or {}, timeout=5).raise_for_status()

    def calls(self, path: str) -> list[dict[str, Any]]:
        return [c for c in requests.get(f"{self.url}/_calls", timeout=5).json() if c["path"] == path]

    def fetches(self) -> int:
        return len(self.calls("/cgi-bin/stable_token"))


@pytest.fixture
def fake(tables: None, fake_wechat: str) -> Iterator[Fake]:
    requests.post(f"{fake_wechat}/_reset", timeout=5).raise_for_status()
    get_settings.cache_clear()
    clients.reset_clients()
    yield Fake(fake_wechat)
    clients.reset_clients()


def phone(client: Any) -> str:
    reply = clients.call("mini", lambda c: c.post(PHONE_URL, data={"code": "phone:139"}), client=client)
    return str(reply["phone_info"]["purePhoneNumber"])


def all_at_once(work: Callable[[Any], Any], containers: list[Any]) -> list[Any]:
    start = threading.Barrier(len(containers))

    def run(client: Any) -> Any:
        start.wait()
        return work(client)

    with ThreadPoolExecutor(len(containers)) as pool:
        return list(pool.map(run, containers))


def test_sixteen_cold_containers_fetch_exactly_one_token(fake: Fake) -> None:
    containers = [clients.build_client("mini") for _ in range(N)]

    results = all_at_once(phone, containers)

    assert results == ["139"] * N
    assert fake.fetches() == 1
    assert len({c["query"]["access_token"] for c in fake.calls("/wxa/business/getuserphonenumber")}) == 1


def test_sixteen_threads_of_one_container_fetch_exactly_one_token(fake: Fake) -> None:
    shared = clients.get_client("mini")

    assert all_at_once(phone, [shared] * N) == ["139"] * N
    assert fake.fetches() == 1


def test_token_rejected_in_sixteen_containers_is_refreshed_once(fake: Fake) -> None:
    containers = [clients.build_client("mini") for _ in range(N)]
    all_at_once(phone, containers)
    fake.control("/_invalidate_tokens")

    assert all_at_once(phone, containers) == ["139"] * N
    assert fake.fetches() == 2  # the cold fetch, then one refresh for all sixteen
    assert len(fake.calls("/wxa/business/getuserphonenumber")) == 3 * N


def test_lease_of_a_crashed_holder_expires_and_another_caller_fetches(fake: Fake) -> None:
    # A holder took the lease 9 s ago (10 s lease) and died before writing a token.
    assert token_repo.try_lease(MINI_KEY, "crashed", epoch_seconds() - 9, 10) is not None

    started = time.monotonic()
    assert phone(clients.build_client("mini")) == "139"

    assert fake.fetches() == 1
    assert 0.8 <= time.monotonic() - started < 3.0
    item = token_repo.read(MINI_KEY)
    assert item is not None and item.token and item.lease_owner is None


def test_lease_held_longer_than_the_wait_is_a_clear_error_and_fetches_nothing(fake: Fake) -> None:
    assert token_repo.try_lease(MINI_KEY, "slow", epoch_seconds(), 10) is not None
    client = clients.build_client("mini")
    client.session.cache.wait_seconds = 0.3

    with pytest.raises(clients.WeChatUnreachable, match="lease"):
        phone(client)
    assert fake.fetches() == 0


@pytest.mark.parametrize("failure", [{"status": 500}, {"errcode": -1}])
def test_wechat_down_during_the_fetch_leaves_no_lease_behind(fake: Fake, failure: dict[str, int]) -> None:
    fake.control("/_fail", {"path": "/cgi-bin/stable_token", "times": 1, **failure})

    with pytest.raises((clients.WeChatUnreachable, clients.WeChatApiError)):
        phone(clients.build_client("mini"))

    item = token_repo.read(MINI_KEY)
    assert item is not None and item.lease_owner is None and item.token is None
    started = time.monotonic()
    assert phone(clients.build_client("mini")) == "139"  # the next caller does not wait for a lease
    assert time.monotonic() - started < 1.0
    assert fake.fetches() == 2


def test_wechat_unreachable_for_sixteen_containers_fails_each_cleanly_and_recovers(fake: Fake) -> None:
    fake.control("/_fail", {"path": "/cgi-bin/stable_token", "times": 1000, "status": 503})
    containers = [clients.build_client("mini") for _ in range(N)]
    for client in containers:
        client.session.cache.wait_seconds = 0.5

    def attempt(client: Any) -> str:
        try:
            return phone(client)
        except (clients.WeChatUnreachable, clients.WeChatApiError) as error:
            return type(error).__name__

    assert set(all_at_once(attempt, containers)) == {"WeChatUnreachable"}
    fake.control("/_reset")
    assert all_at_once(phone, containers) == ["139"] * N
    assert fake.fetches() == 1


def test_tokens_and_secrets_never_reach_the_logs(
    fake: Fake, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    client = clients.build_client("mini")
    phone(client)
    fake.control("/_invalidate_tokens", {"keep_stable": True})
    phone(client)
    fake.control("/_fail", {"path": "/cgi-bin/stable_token", "times": 1, "status": 500})
    fake.control("/_invalidate_tokens")
    with pytest.raises(clients.WeChatUnreachable):
        phone(client)

    logged = capsys.readouterr()
    text = logged.out + logged.err + caplog.text
    tokens = {c["query"].get("access_token") for c in fake.calls("/wxa/business/getuserphonenumber")}
    secrets = {t for t in tokens if t} | {get_settings().wechat_mini_secret}
    assert len(secrets) == 3  # two tokens used, and the AppSecret
    assert "fetching a stable access_token" in text
    for secret in secrets:
        assert secret not in text
