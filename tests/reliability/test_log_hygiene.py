"""Logs never carry a full phone number, a session_key, a token or a secret — on success or failure."""

from __future__ import annotations

import logging

import pytest

from local.fake_wechat import _session_key
from tests.support.api import Api, dumps, member_headers
from tests.support.env import TEST_ENV
from tests.support.faults import Injector, client_error, inject


def test_logs_hold_no_phone_session_key_token_or_secret(
    api: Api, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    token, member_id = api.login("secretive")
    api.http.post("/v1/me/phone", body=dumps({"code": "phone:13912345678"}), headers=member_headers(token))
    api.order("LOG-1", {"phone": "13912345678"}, 10_000)
    api.order("LOG-2", {"phone": "13912345678"}, -1)
    api.redeem(token, 5, "log-r")
    api.http.post("/v1/auth/login", body=dumps({"code": "forged-code"}), headers={"Content-Type": "application/json"})
    api.http.get("/v1/me", headers={"Authorization": f"Bearer {token}x"})
    broken = Injector("GetItem", lambda kw: client_error("InternalServerError", "GetItem"), times=None)
    with inject(monkeypatch, broken):
        assert api.me(token).status_code == 503

    captured = capsys.readouterr()
    logs = captured.out + captured.err + "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert "request" in logs  # the capture did see our log lines
    for secret in [
        "13912345678",
        _session_key("secretive"),
        token,
        TEST_ENV["JWT_SECRET"],
        TEST_ENV["PHONE_HASH_KEY"],
        TEST_ENV["WECHAT_MINI_SECRET"],
        "pos-secret-1",
        "alice-key",
    ]:
        assert secret not in logs, f"a secret reached the logs: {secret[:6]}…"
