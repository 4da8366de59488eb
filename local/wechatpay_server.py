"""The HTTP side of the fake WeChat Pay (local/fake_wechatpay.py): every answer signed as
WeChat Pay signs it (over the exact bytes sent, 204s included), with a Request-ID."""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


class State(Protocol):
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]: ...

    def sign(self, body: bytes) -> dict[str, str]: ...


class _Handler(BaseHTTPRequestHandler):
    server: FakeWeChatPayServer

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            status, reply = self.server.state.handle(method, self.path, headers, body)
        except ValueError:
            status, reply = 400, {"code": "PARAM_ERROR", "message": "body is not JSON"}
        data = b"" if reply is None else json.dumps(reply, ensure_ascii=False).encode()
        self.send_response(status)
        for name, value in self.server.state.sign(data).items():
            self.send_header(name, value)
        self.send_header("Request-ID", secrets.token_hex(8))
        if reply is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return  # `GET /_calls` is the request log


class FakeWeChatPayServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: State) -> None:
        super().__init__(address, _Handler)
        self.state = state


def start_fake_wechatpay(state: State, host: str = "127.0.0.1", port: int = 0) -> tuple[FakeWeChatPayServer, str]:
    """Serve in a daemon thread; `server.shutdown()` stops it."""
    server = FakeWeChatPayServer((host, port), state)
    threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-wechatpay", daemon=True).start()
    return server, f"http://{host}:{server.server_port}"
