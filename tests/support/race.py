"""Calls released together, for the reliability tests."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Runs the calls at once (released together); each one's result or the error it raised."""
    gate = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        gate.wait()
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - the outcome is what the test counts
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def retrying(call: Callable[[], T]) -> T:
    """Busy means contention did not clear in the retry budget: the caller retries, same key."""
    from chalicelib.domain.errors import Busy

    while True:
        try:
            return call()
        except Busy:
            continue
