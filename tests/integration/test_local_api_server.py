"""The local API server (`python -m local.api_server`, what `make run` starts) takes a burst of
clients and answers every refusal in our error shape, as API Gateway does in the cloud."""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.processes import free_port, start_process, stop_process, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
MESSAGES = json.loads((ROOT / "chalicelib" / "config" / "messages.zh-CN.json").read_text(encoding="utf-8"))
CLIENTS = 64


@pytest.fixture(scope="module")
def server(embedded_aws: str) -> Iterator[int]:
    port = free_port()
    argv = [sys.executable, "-m", "local.api_server", "--stage", "test", "--host", "127.0.0.1", "--port", str(port)]
    process = start_process(argv, quiet=True, env=dict(os.environ))
    try:
        wait_for_http(f"http://127.0.0.1:{port}/openapi.json", process, timeout=60)
        yield port
    finally:
        stop_process(process)


def _request(port: int, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, Any, Any]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, json.loads(response.read())
    finally:
        connection.close()


def _in_our_shape(body: Any, code: str) -> None:
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code and body["error"]["message"] == MESSAGES[code]


def test_listen_backlog_is_large_enough_for_a_burst() -> None:
    from local.api_server import BackloggedServer

    assert BackloggedServer.request_queue_size >= 128 and BackloggedServer.daemon_threads


def test_64_clients_at_once_are_all_answered_promptly_without_a_reset(server: int) -> None:
    """With a full listen queue Linux drops the SYN (the client tries again 1, 3, 7 s later) or,
    with tcp_abort_on_overflow, resets the connection: either shows as a slow or failed client."""
    start = threading.Barrier(CLIENTS)
    answers: list[int] = []
    latencies: list[float] = []
    failures: list[BaseException] = []

    def client() -> None:
        start.wait()
        began = time.monotonic()
        try:
            answers.append(_request(server, "GET", "/v1/me")[0])
            latencies.append(time.monotonic() - began)
        except BaseException as error:  # noqa: BLE001 - a reset is exactly what this test looks for
            failures.append(error)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert answers == [401] * CLIENTS
    assert max(latencies) < 3.0, f"slowest client waited {max(latencies):.1f} s: SYNs were dropped"


def test_wrong_method_is_405_in_our_shape(server: int) -> None:
    status, headers, body = _request(server, "GET", "/v1/auth/login")
    assert status == 405 and headers["Allow"] == "POST"
    _in_our_shape(body, "method_not_allowed")


def test_text_plain_body_is_415_in_our_shape(server: int) -> None:
    status, _, body = _request(server, "POST", "/v1/auth/login", b"code=x", **{"Content-Type": "text/plain"})
    assert status == 415
    _in_our_shape(body, "unsupported_media_type")


def test_unknown_path_is_404_in_our_shape(server: int) -> None:
    for headers in ({}, {"Authorization": "Bearer x"}):
        status, _, body = _request(server, "GET", "/v1/nowhere", **headers)
        assert status == 404
        _in_our_shape(body, "not_found")


def test_20_kb_header_is_431_in_our_shape(server: int) -> None:
    status, headers, body = _request(server, "GET", "/v1/me", **{"X-Padding": "x" * 20_000})
    assert status == 431 and headers["Connection"] == "close"
    _in_our_shape(body, "headers_too_large")


def test_malformed_content_length_is_400_in_our_shape(server: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=20)
    try:
        connection.putrequest("POST", "/v1/auth/login")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", "12abc")
        connection.endheaders()
        response = connection.getresponse()
        status, body = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert status == 400
    _in_our_shape(body, "invalid_request")


def test_percent_encoded_path_parameter_reaches_the_app_decoded_as_from_api_gateway(server: int, tables: None) -> None:
    from tests.support.api import operator_headers

    status, _, body = _request(server, "GET", "/admin/campaigns/cmp%5Fmissing%3A1", **operator_headers())
    assert status == 404, body
    assert body["error"]["fields"] == [{"field": "campaign_id", "reason": "cmp_missing:1"}]
