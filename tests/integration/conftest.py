"""Integration fixtures: embedded AWS, the fake WeChat API and the Chalice test client."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.api import Api


@pytest.fixture(scope="session")
def fake_wechat() -> Iterator[str]:
    from local.fake_wechat import start_fake_wechat

    server, url = start_fake_wechat()
    os.environ["WECHAT_API_BASE"] = url
    yield url
    server.shutdown()


@pytest.fixture
def api(tables: None, fake_wechat: str) -> Iterator[Api]:
    from chalice.test import Client

    from app import app
    from chalicelib.settings import get_settings

    get_settings.cache_clear()
    with Client(app, stage_name="test") as client:
        yield Api(client)
