"""Shared fixtures. Unit tests use none of the AWS fixtures and open no sockets."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.support.api import Api
from tests.support.env import apply_test_env

apply_test_env()

# Every test runs on a pinned, ticking clock: the same dates whatever the machine says.
# `WXM_TEST_NOW=2028-02-29T23:59:30+08:00 make test` runs the whole suite on another day.
TEST_NOW = datetime.fromisoformat(os.environ.get("WXM_TEST_NOW") or "2026-11-22T10:00:00+08:00")


@pytest.fixture(autouse=True)
def pinned_clock(request: pytest.FixtureRequest) -> Iterator[datetime]:
    """The local stack of the e2e tests runs on the real clock, and so do their callers."""
    from chalicelib import clock

    if "e2e" in request.node.path.parts:
        clock.unpin()
        yield clock.utc_now()
        return
    clock.pin(TEST_NOW)
    try:
        yield TEST_NOW
    finally:
        clock.unpin()


@pytest.fixture(scope="session")
def embedded_aws() -> Iterator[str]:
    """One serialized moto server per test session, on 127.0.0.1, in its own process: the
    server then has a core of its own instead of sharing the test process's GIL."""
    from local.processes import free_port, start_process, stop_process, wait_for_http

    port = free_port()
    process = start_process([sys.executable, "-m", "local.embedded_aws", "--port", str(port)], quiet=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/moto-api/", process)
        os.environ["AWS_ENDPOINT_URL"] = url
        yield url
    finally:
        stop_process(process)


def _table_names() -> set[str]:
    from chalicelib.store.models import ALL_MODELS

    return {model.Meta.table_name for model in ALL_MODELS}


@pytest.fixture
def tables(embedded_aws: str) -> Iterator[None]:
    """Fresh, empty tables and queues for each test."""
    import requests

    from chalicelib.notify.events import reset_clients
    from chalicelib.notify.queues import create_queues
    from chalicelib.services import programme
    from chalicelib.settings import get_settings
    from chalicelib.store.tables import create_tables
    from local.processes import TRUNCATE_PATH
    from tests.support.operators import seed_operators

    # Emptied, not dropped: creating every table again took half a second a test.
    kept = requests.post(f"{embedded_aws}{TRUNCATE_PATH}", timeout=5)
    kept.raise_for_status()
    get_settings.cache_clear()
    reset_clients()
    programme.forget()
    if not _table_names() <= set(kept.json()["tables"]):
        create_tables()
    create_queues()
    seed_operators()
    yield


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
