"""A deterministic fake of WeChat's HTTP API on 127.0.0.1, for local runs and tests.

Login codes: `demo:<name>` → openid `o_<name>`, unionid `u_<name>`; `nounion:<name>` → no
unionid; anything else → errcode 40029. Unlike real WeChat, where a `wx.login()` code is
single-use and expires after 5 minutes, `demo:` and `nounion:` codes may be reused: the
local demo logs the same member in again and again. Phone codes are `phone:<digits>`;
any other phone code → errcode 40029, as WeChat answers an invalid or expired one.

Official account openids `mp_<name>` have unionid `u_<name>` (`mpnu_<name>`: none); WeChat
Work contacts `wm_<name>` have unionid `u_<name>` and follow user `staff_a`; staff OAuth codes
are `staff:<userid>`. Every API that takes an access_token answers 40001 to an unknown one.
Messages and tag marks are recorded in `/_sent` as {"channel", "path", "body"}.

Member cards (`card/membercard/activate`, `updateuser`, `activateuserform/set`, `userinfo/get`)
keep per-code state (member number, bonus, balance, custom field, status), read and drifted
through `GET /_cards` and `POST /_cards`.

Control endpoints (`/_calls`, `/_sent`, `/_reset`, `/_invalidate_tokens`, `/_fail`, `/_users`,
`/_contacts`, `/_cards`) let tests inspect what was called, register fixtures and inject faults; they are
not recorded as calls.
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
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from chalicelib.clock import epoch_seconds

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

    def __init__(self, clock: Callable[[], float] = epoch_seconds) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._token_counter = 0
        self._tokens: dict[str, str] = {}  # valid token -> appid (or corpid) it was issued to
        self._stable_tokens: dict[str, str] = {}  # appid -> current stable token
        self._work_tokens: dict[str, str] = {}  # corpid -> current token
        self._stale_stable: set[str] = set()  # appids whose rejected stable token is still handed out
        self._failures: dict[str, list[int]] = {}  # path -> [status, errcode, remaining]
        self._users: dict[str, Json] = {}  # official-account openid -> user info
        self._contacts: dict[str, Json] = {}  # external_userid -> externalcontact/get reply
        self._client_msg_ids: set[str] = set()
        self.cards: dict[str, Json] = {}  # member card code -> {card_id, membership_number, bonus, balance, ...}
        self.card_forms: dict[str, Json] = {}  # card_id -> the activation form set
        self.calls: list[Json] = []
        self.sent: list[Json] = []
        self._wechat_routes: dict[tuple[str, str], Route] = {
            ("GET", "/cgi-bin/token"): self._token,
            ("POST", "/cgi-bin/stable_token"): self._stable_token,
            ("GET", "/cgi-bin/gettoken"): self._work_token,
            ("GET", "/sns/jscode2session"): self._jscode2session,
            ("POST", "/wxa/business/getuserphonenumber"): self._phone_number,
            ("GET", "/cgi-bin/user/info"): self._authed(self._user_info),
            ("GET", "/cgi-bin/externalcontact/get"): self._authed(self._contact),
            ("GET", "/cgi-bin/auth/getuserinfo"): self._authed(self._staff_userinfo),
            ("POST", "/cgi-bin/externalcontact/mark_tag"): self._authed(
                self._sender("work_tag", "userid", "external_userid")
            ),
            ("POST", "/cgi-bin/message/subscribe/send"): self._authed(
                self._sender("mini_subscribe", "touser", "template_id")
            ),
            ("POST", "/cgi-bin/message/template/send"): self._authed(self._template_send),
            ("POST", "/cgi-bin/message/send"): self._authed(self._sender("work_message", "touser", "msgtype")),
            ("POST", "/card/membercard/activate"): self._authed(self._card_activate),
            ("POST", "/card/membercard/updateuser"): self._authed(self._card_update),
            ("POST", "/card/membercard/activateuserform/set"): self._authed(self._card_form),
            ("POST", "/card/membercard/userinfo/get"): self._authed(self._card_user),
        }
        self._control_routes: dict[tuple[str, str], Route] = {
            ("GET", "/_calls"): lambda _q, _b: (200, list(self.calls)),
            ("GET", "/_sent"): lambda _q, _b: (200, list(self.sent)),
            ("POST", "/_reset"): lambda _q, _b: self._reset(),
            ("POST", "/_invalidate_tokens"): lambda _q, body: self._invalidate_tokens(body),
            ("POST", "/_fail"): lambda _q, body: self._fail(body),
            ("POST", "/_users"): lambda _q, body: self._register(self._users, "openid", body),
            ("POST", "/_contacts"): lambda _q, body: self._register(self._contacts, "external_userid", body),
            ("GET", "/_cards"): lambda _q, _b: (200, {"cards": dict(self.cards), "forms": dict(self.card_forms)}),
            ("POST", "/_cards"): lambda _q, body: self._set_card(body),
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
            if rule is not None and rule[2] > 0:
                rule[2] -= 1
                return rule[0], {"errcode": rule[1], "errmsg": "injected failure"}
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
        self._users.clear()
        self._contacts.clear()
        self._client_msg_ids.clear()
        self.cards.clear()
        self.card_forms.clear()
        return self._invalidate_tokens({})

    def _invalidate_tokens(self, body: Json) -> Reply:
        """Every token becomes invalid. With {"keep_stable": true}, stable_token keeps handing out
        the now-rejected token until a caller asks with force_refresh (WeChat's view lagging)."""
        self._tokens.clear()
        self._work_tokens.clear()
        if body.get("keep_stable") is True:
            self._stale_stable = set(self._stable_tokens)
        else:
            self._stable_tokens.clear()
            self._stale_stable.clear()
        return 200, {"ok": True}

    def _fail(self, rule: Json) -> Reply:
        """The next `times` calls to `path` answer HTTP 200 {"errcode": errcode} when an errcode is
        given, else HTTP `status` (default 500) with errcode -1 (system busy)."""
        if not rule.get("path"):
            return 400, {"error": 'expected JSON {"path": ..., "times": N, "errcode": E} (or "status": S)'}
        status = int(rule.get("status", 200 if "errcode" in rule else 500))
        self._failures[str(rule["path"])] = [status, int(rule.get("errcode", -1)), int(rule.get("times", 1))]
        return 200, {"ok": True}

    def _register(self, registry: dict[str, Json], key: str, body: Json) -> Reply:
        if not body.get(key):
            return 400, {"error": f"expected JSON with {key}"}
        registry[str(body[key])] = body
        return 200, {"ok": True}

    # Tokens.
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
        stale_ok = appid in self._stale_stable and body.get("force_refresh") is not True
        if token is None or body.get("force_refresh") is True or (token not in self._tokens and not stale_ok):
            token = self._stable_tokens[appid] = self._issue_token(appid)
            self._stale_stable.discard(appid)
        return 200, {"access_token": token, "expires_in": 7200}

    def _work_token(self, query: Json, _body: Json) -> Reply:
        """WeChat Work's gettoken: the same token while it is valid."""
        corpid, secret = str(query.get("corpid") or ""), query.get("corpsecret")
        if not corpid:
            return _error(40013, "invalid corpid")
        if not secret:
            return _error(41004, "corpsecret missing")
        token = self._work_tokens.get(corpid)
        if token is None or token not in self._tokens:
            token = self._work_tokens[corpid] = self._issue_token(corpid)
        return 200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200}

    def _authed(self, route: Route) -> Route:
        def checked(query: Json, body: Json) -> Reply:
            if str(query.get("access_token", "")) not in self._tokens:
                return _error(40001, "invalid credential, access_token is invalid or not latest")
            return route(query, body)

        return checked

    # Mini-program.
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

    # Official account and WeChat Work lookups.
    def _user_info(self, query: Json, _body: Json) -> Reply:
        """`mp_<name>` → unionid `u_<name>`; `mpnu_<name>` → no unionid; or a registered user."""
        openid = str(query.get("openid") or "")
        user = self._users.get(openid)
        if user is None:
            kind, _, name = openid.partition("_")
            if not name or kind not in ("mp", "mpnu"):
                return _error(40003, "invalid openid")
            user = {"openid": openid} | ({"unionid": f"u_{name}"} if kind == "mp" else {})
        return 200, {"subscribe": 1, "nickname": "", "subscribe_time": int(self._clock()), **user}

    def _contact(self, query: Json, _body: Json) -> Reply:
        """`wm_<name>` → unionid `u_<name>`, served by staff_a; or a registered contact."""
        external_userid = str(query.get("external_userid") or "")
        found = self._contacts.get(external_userid)
        if found is None:
            kind, _, name = external_userid.partition("_")
            if not name or kind != "wm":
                return _error(84061, "not external contact")
            found = {"external_userid": external_userid, "unionid": f"u_{name}", "follow_user": ["staff_a"]}
        contact = {"external_userid": external_userid, "name": external_userid, "type": 1}
        if found.get("unionid"):
            contact["unionid"] = found["unionid"]
        follow = [u if isinstance(u, dict) else {"userid": str(u)} for u in found.get("follow_user") or []]
        follow = [{"remark": "", "createtime": int(self._clock()), "tags": [], **u} for u in follow]
        return 200, {"errcode": 0, "errmsg": "ok", "external_contact": contact, "follow_user": follow}

    def _staff_userinfo(self, query: Json, _body: Json) -> Reply:
        kind, _, userid = str(query.get("code") or "").partition(":")
        if kind != "staff" or not userid:
            return _error(40029, "invalid code")
        return 200, {"errcode": 0, "errmsg": "ok", "userid": userid}

    # Messages: recorded in `sent` by channel.
    def _sender(self, channel: str, *required: str) -> Route:
        def send(_query: Json, body: Json) -> Reply:
            missing = [name for name in required if not body.get(name)]
            if missing:
                return _error(40058, f"invalid parameter: {missing[0]}")
            self.sent.append({"channel": channel, "path": _PATHS[channel], "body": body})
            return 200, {"errcode": 0, "errmsg": "ok", "msgid": len(self.sent)}

        return send

    def _template_send(self, query: Json, body: Json) -> Reply:
        """A repeated client_msg_id is answered ok and not sent again (WeChat's dedup)."""
        msg_id = body.get("client_msg_id")
        if msg_id and msg_id in self._client_msg_ids:
            return 200, {"errcode": 0, "errmsg": "ok", "msgid": 0}
        reply = self._sender("mp_template", "touser", "template_id")(query, body)
        if msg_id and reply[1].get("errcode") == 0:
            self._client_msg_ids.add(str(msg_id))
        return reply

    # Member cards (会员卡): per code, what the card shows. A code is known once activated (or set
    # through `POST /_cards`); an unknown or deleted code answers 40056 (invalid code).
    def _set_card(self, body: Json) -> Reply:
        """Test control: `{"code", ...fields}` overwrites fields of a card (a drift, `"status":
        "DELETE"`), creating it when new."""
        if not body.get("code"):
            return 400, {"error": "expected JSON with code"}
        card = self.cards.setdefault(str(body["code"]), {"bonus": 0, "balance": 0, "status": "NORMAL"})
        card.update({key: value for key, value in body.items() if key != "code"})
        return 200, {"ok": True}

    def _live_card(self, body: Json) -> Json | None:
        card = self.cards.get(str(body.get("code") or ""))
        return card if card is not None and card.get("status") == "NORMAL" else None

    def _card_activate(self, _query: Json, body: Json) -> Reply:
        """Activation (激活): the member number and opening values. Activating again with the same
        number answers ok and sets the values (a retry); another number is refused."""
        code, number = str(body.get("code") or ""), str(body.get("membership_number") or "")
        if not code or not number:
            return _error(40058, "invalid parameter: code or membership_number")
        card = self.cards.get(code)
        if card is not None and card.get("status") != "NORMAL":
            return _error(40056, "invalid code")
        if card is not None and card.get("membership_number") not in (None, number):
            return _error(40073, "card already activated with another membership_number")
        self.cards[code] = (card or {}) | {
            "card_id": body.get("card_id"),
            "membership_number": number,
            "bonus": int(body.get("init_bonus") or 0),
            "balance": int(body.get("init_balance") or 0),
            "custom_field_value1": body.get("init_custom_field_value1"),
            "status": "NORMAL",
            "updates": 0,
        }
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _card_update(self, _query: Json, body: Json) -> Reply:
        """updateuser: `bonus` / `balance` set the card when given (absolute, as WeChat shows them),
        else `add_bonus` / `add_balance` move it."""
        card = self._live_card(body)
        if card is None or body.get("card_id") != card.get("card_id"):
            return _error(40056, "invalid code")
        for name in ("bonus", "balance"):
            if body.get(name) is not None:
                card[name] = int(body[name])
            elif body.get(f"add_{name}") is not None:
                card[name] = int(card.get(name) or 0) + int(body[f"add_{name}"])
        if body.get("custom_field_value1") is not None:
            card["custom_field_value1"] = body["custom_field_value1"]
        card["updates"] = int(card.get("updates") or 0) + 1
        reply = {"result_bonus": card["bonus"], "result_balance": card["balance"], "openid": f"mp_{body['code']}"}
        return 200, {"errcode": 0, "errmsg": "ok", **reply}

    def _card_form(self, _query: Json, body: Json) -> Reply:
        if not body.get("card_id"):
            return _error(40058, "invalid parameter: card_id")
        self.card_forms[str(body["card_id"])] = body
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _card_user(self, _query: Json, body: Json) -> Reply:
        card = self.cards.get(str(body.get("code") or ""))
        if card is None or body.get("card_id") != card.get("card_id"):
            return _error(40056, "invalid code")
        info = {key: card.get(key) for key in ("membership_number", "bonus", "balance")}
        return 200, {"errcode": 0, "errmsg": "ok", **info, "user_card_status": card.get("status", "NORMAL")}


_PATHS = {
    "work_tag": "/cgi-bin/externalcontact/mark_tag",
    "mini_subscribe": "/cgi-bin/message/subscribe/send",
    "mp_template": "/cgi-bin/message/template/send",
    "work_message": "/cgi-bin/message/send",
}


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
    # socketserver's default backlog of 5 refuses connections when many clients start at once.
    request_queue_size = 128

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
