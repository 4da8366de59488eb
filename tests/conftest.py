"""Shared fixtures. Unit tests use none of the AWS fixtures and open no sockets."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.env import apply_test_env

apply_test_env()


@pytest.fixture(scope="session")
def embedded_aws() -> Iterator[str]:
    """One serialized moto server per test session, on 127.0.0.1."""
    from local.embedded_aws import start_embedded_aws

    server, url = start_embedded_aws()
    os.environ["AWS_ENDPOINT_URL"] = url
    yield url
    server.shutdown()


@pytest.fixture
def tables(embedded_aws: str) -> Iterator[None]:
    """Fresh, empty tables for each test."""
    import requests

    from chalicelib.settings import get_settings
    from chalicelib.store.tables import create_tables

    requests.post(f"{embedded_aws}/moto-api/reset", timeout=5).raise_for_status()
    get_settings.cache_clear()
    create_tables()
    yield
