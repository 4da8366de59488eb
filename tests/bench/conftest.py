from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.bench.report import write_report


@pytest.fixture(scope="session", autouse=True)
def bench_report() -> Iterator[None]:
    yield
    write_report()
