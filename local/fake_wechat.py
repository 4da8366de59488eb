"""A deterministic fake of WeChat's HTTP API on 127.0.0.1, for local runs and tests.

Login codes: `demo:<name>` → openid `o_<name>`, unionid `u_<name>`; `nounion:<name>` → no
unionid; anything else → errcode 40029. Unlike real WeChat, where a `wx.login()` code is
single-use and expires after 5 minutes, `demo:` and `nounion:` codes may be reused: the
local demo logs the same member in again and again. Phone codes are `phone:<digits>`.

Control endpoints (`/_calls`, `/_reset`, `/_invalidate_tokens`, `/_fail`, `/_sent`) let
tests inspect what was called and inject faults; they are not recorded as calls.
Token numbers are never reset, so a token cached by a client before `/_reset` can never
become valid again by coincidence.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger("fake_wechat")

Json = dict[str, Any]
Reply = tuple[int, Any]
Route = Callable[[Json, Json], Reply]


def _error(errcode: int, errmsg: str) -> Reply:
    # WeChat reports business errors with HTTP 200 and an errcode.
    return 200, {"errcode": errcode, "errmsg": errmsg}


def _session_key(name: str) -> str:
    return base64.b64encode(hashlib.sha256(f"session:{name}".encode()).digest()[:16]).decode()


def _credential_error(params: Json, grant_type: str) -> Reply | None:
    if params.get("grant_type") != grant_type:
        return _error(40002, "invalid grant_type")
    if not params.get("appid"):
        return _error(41002, "appid missing")
    if not params.get("secret"):
        return _error(41004, "appsecret missing")
    return None


class FakeWeChat:
    """All state of the fake. `handle` runs each request under one lock, so server threads may share it."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._token_counter = 0
        self._tokens: dict[str, str] = {}  # valid token -> appid it was issued to
        self._stable_tokens: dict[str, str] = {}  # appid -> current stable token
        self._failures: dict[str, list[int]] = {}  # path -> [status, remaining]
        self.calls: list[Json] = []
        self.sent: list[Json] = []
        self._wechat_routes: dict[tuple[str, str], Route] = {
            ("GET", "/cgi-bin/token"): self._token,
            ("POST", "/cgi-bin/stable_token"): self._stable_token,
            ("GET", "/sns/jscode2session"): self._jscode2session,
            ("POST", "/wxa/business/getuserphonenumber"): self._phone_number,
        }
        self._control_routes: dict[tuple[str, str], Route] = {
            ("GET", "/_calls"): lambda _q, _b: (200, list(self.calls)),
            ("GET", "/_sent"): lambda _q, _b: (200, list(self.sent)),
            ("POST", "/_reset"): lambda _q, _b: self._reset(),
            ("POST", "/_invalidate_tokens"): lambda _q, _b: self._invalidate_tokens(),
            ("POST", "/_fail"): lambda _q, body: self._fail(body),
        }

    def handle(self, method: str, path: str, query: Json, body: bytes) -> Reply:
        payload = _parse_body(body)
        fields = payload if isinstance(payload, dict) else {}
        with self._lock:
            control = self._control_routes.get((method, path))
            if control is not None:
                return control(query, fields)
            self.calls.append({"method": method, "path": path, "query": query, "body": payload})
            rule = self._failures.get(path)
            if rule is not None and rule[1] > 0:
                rule[1] -= 1
                return rule[0], {"errcode": -1, "errmsg": "injected failure"}
            route = self._wechat_routes.get((method, path))
            if route is None:
                logger.warning("unknown WeChat path %s %s", method, path)
                return _error(40066, "invalid url")
            return route(query, fields)

    # Control actions: called only by `handle`, which holds the lock.
    def _reset(self) -> Reply:
        self.calls.clear()
        self.sent.clear()
        self._failures.clear()
        return self._invalidate_tokens()

    def _invalidate_tokens(self) -> Reply:
        self._tokens.clear()
        self._stable_tokens.clear()
        return 200, {"ok": True}

    def _fail(self, rule: Json) -> Reply:
        """The next `times` calls to `path` answer HTTP `status` with errcode -1 (system busy)."""
        if not rule.get("path"):
            return 400, {"error": 'expected JSON {"path": ..., "times": N, "status": 500}'}
        self._failures[str(rule["path"])] = [int(rule.get("status", 500)), int(rule.get("times", 1))]
        return 200, {"ok": True}

    def _issue_token(self, appid: str) -> str:
        self._token_counter += 1
        token = f"fake-token-{self._token_counter}"
        self._tokens[token] = appid
        return token

    def _token(self, query: Json, _body: Json) -> Reply:
        problem = _credential_error(query, "client_credential")
        if problem is not None:
            return problem
        return 200, {"access_token": self._issue_token(query["appid"]), "expires_in": 7200}

    def _stable_token(self, _query: Json, body: Json) -> Reply:
        problem = _credential_error(body, "client_credential")
        if problem is not None:
            return problem
        appid = str(body["appid"])
        token = self._stable_tokens.get(appid)
        if token is None or token not in self._tokens or body.get("force_refresh") is True:
            token = self._stable_tokens[appid] = self._issue_token(appid)
        return 200, {"access_token": token, "expires_in": 7200}

    def _jscode2session(self, query: Json, _body: Json) -> Reply:
        problem = _credential_error(query, "authorization_code")
        if problem is not None:
            return problem
        kind, _, name = str(query.get("js_code", "")).partition(":")
        if not name or kind not in ("demo", "nounion"):
            return _error(40029, "invalid code")
        session: Json = {"openid": f"o_{name}", "session_key": _session_key(name)}
        if kind == "demo":
            session["unionid"] = f"u_{name}"
        return 200, session

    def _phone_number(self, query: Json, body: Json) -> Reply:
        appid = self._tokens.get(str(query.get("access_token", "")))
        if appid is None:
            return _error(40001, "invalid credential")
        kind, _, digits = str(body.get("code", "")).partition(":")
        if kind != "phone" or not digits.isdigit():
            return _error(40029, "invalid code")
        watermark = {"timestamp": int(self._clock()), "appid": appid}
        info = {"phoneNumber": digits, "purePhoneNumber": digits, "countryCode": "86", "watermark": watermark}
        return 200, {"errcode": 0, "errmsg": "ok", "phone_info": info}


def _parse_body(body: bytes) -> Any:
    # wechatpy posts JSON without a Content-Type header, so parse by content, not by header.
    if not body:
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return body.decode("utf-8", "replace")


class _Handler(BaseHTTPRequestHandler):
    server: FakeWeChatServer

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, reply = self.server.state.handle(method, url.path, dict(parse_qsl(url.query)), body)
        data = json.dumps(reply, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet on purpose: the recorded calls (`GET /_calls`) are the request log.
        return


class FakeWeChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: FakeWeChat | None = None) -> None:
        super().__init__(address, _Handler)
        self.state = state or FakeWeChat()


def start_fake_wechat(host: str = "127.0.0.1", port: int = 0) -> tuple[FakeWeChatServer, str]:
    """Serve in a daemon thread; `server.shutdown()` stops it, `server.state` is the FakeWeChat."""
    server = FakeWeChatServer((host, port))
    # A short poll interval makes shutdown() return quickly: tests start one server each.
    threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-wechat", daemon=True).start()
    return server, f"http://{host}:{server.server_port}"


def main() -> None:
    parser = argparse.ArgumentParser(description="fake WeChat API on 127.0.0.1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    server = FakeWeChatServer((args.host, args.port))
    logger.info("fake WeChat on http://%s:%d", args.host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()


if __name__ == "__main__":
    main()
