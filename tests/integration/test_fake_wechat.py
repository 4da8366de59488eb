"""The fake WeChat API keeps WeChat's contract for the endpoints we call: tokens are checked,
messages are recorded, faults can be injected. Driven over HTTP, as wechatpy drives it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.fake_wechat import start_fake_wechat


class Fake:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        reply: dict[str, Any] = requests.get(f"{self.url}{path}", params=params, timeout=5).json()
        return reply

    def post(self, path: str, body: Any, **params: Any) -> dict[str, Any]:
        reply: dict[str, Any] = requests.post(f"{self.url}{path}", params=params, json=body, timeout=5).json()
        return reply

    def mp_token(self) -> str:
        body = {"grant_type": "client_credential", "appid": "wx_mp", "secret": "s"}
        return str(self.post("/cgi-bin/stable_token", body)["access_token"])

    def work_token(self) -> str:
        return str(self.get("/cgi-bin/gettoken", corpid="ww_corp", corpsecret="s")["access_token"])

    def sent(self, channel: str) -> list[dict[str, Any]]:
        return [s for s in self.get_list("/_sent") if s["channel"] == channel]

    def get_list(self, path: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = requests.get(f"{self.url}{path}", timeout=5).json()
        return found


@pytest.fixture
def fake() -> Iterator[Fake]:
    server, url = start_fake_wechat(port=0)
    yield Fake(url)
    server.shutdown()
    server.server_close()


def test_work_gettoken_returns_the_same_token_while_it_is_valid(fake: Fake) -> None:
    first = fake.work_token()

    assert fake.work_token() == first
    fake.post("/_invalidate_tokens", {})
    assert fake.work_token() != first


def test_work_gettoken_needs_corpid_and_secret(fake: Fake) -> None:
    assert fake.get("/cgi-bin/gettoken", corpsecret="s")["errcode"] == 40013
    assert fake.get("/cgi-bin/gettoken", corpid="ww_corp")["errcode"] == 41004


def test_every_api_rejects_an_unknown_access_token_with_40001(fake: Fake) -> None:
    gets = ["/cgi-bin/user/info", "/cgi-bin/externalcontact/get", "/cgi-bin/auth/getuserinfo"]
    posts = [
        "/cgi-bin/externalcontact/mark_tag",
        "/cgi-bin/message/subscribe/send",
        "/cgi-bin/message/template/send",
        "/cgi-bin/message/send",
        "/wxa/business/getuserphonenumber",
    ]

    codes = [fake.get(path, access_token="forged")["errcode"] for path in gets]
    codes += [fake.post(path, {"touser": "x"}, access_token="forged")["errcode"] for path in posts]
    assert codes == [40001] * len(gets + posts)
    assert fake.get_list("/_sent") == []


def test_mp_user_info_gives_unionid_by_openid_convention(fake: Fake) -> None:
    token = fake.mp_token()

    assert fake.get("/cgi-bin/user/info", access_token=token, openid="mp_alice")["unionid"] == "u_alice"
    assert "unionid" not in fake.get("/cgi-bin/user/info", access_token=token, openid="mpnu_bob")
    assert fake.get("/cgi-bin/user/info", access_token=token, openid="stranger")["errcode"] == 40003


def test_registered_user_overrides_the_convention(fake: Fake) -> None:
    token = fake.mp_token()
    fake.post("/_users", {"openid": "mp_carol", "unionid": "u_other"})

    assert fake.get("/cgi-bin/user/info", access_token=token, openid="mp_carol")["unionid"] == "u_other"


def test_external_contact_gives_unionid_and_follow_users(fake: Fake) -> None:
    token = fake.work_token()
    fake.post("/_contacts", {"external_userid": "ext9", "follow_user": ["staff_b", {"userid": "staff_c"}]})

    conventional = fake.get("/cgi-bin/externalcontact/get", access_token=token, external_userid="wm_dan")
    registered = fake.get("/cgi-bin/externalcontact/get", access_token=token, external_userid="ext9")
    unknown = fake.get("/cgi-bin/externalcontact/get", access_token=token, external_userid="nobody")

    assert conventional["external_contact"]["unionid"] == "u_dan"
    assert [u["userid"] for u in conventional["follow_user"]] == ["staff_a"]
    assert "unionid" not in registered["external_contact"]
    assert [u["userid"] for u in registered["follow_user"]] == ["staff_b", "staff_c"]
    assert unknown["errcode"] == 84061


def test_staff_oauth_code_names_the_staff_userid_and_others_are_40029(fake: Fake) -> None:
    token = fake.work_token()

    assert fake.get("/cgi-bin/auth/getuserinfo", access_token=token, code="staff:zhangsan")["userid"] == "zhangsan"
    assert fake.get("/cgi-bin/auth/getuserinfo", access_token=token, code="forged")["errcode"] == 40029


@pytest.mark.parametrize(
    ("path", "channel", "body"),
    [
        ("/cgi-bin/message/subscribe/send", "mini_subscribe", {"touser": "o_a", "template_id": "T", "data": {}}),
        ("/cgi-bin/message/send", "work_message", {"touser": "staff_a", "msgtype": "text", "agentid": 1}),
        ("/cgi-bin/externalcontact/mark_tag", "work_tag", {"userid": "staff_a", "external_userid": "wm_a"}),
    ],
)
def test_sent_messages_are_recorded_by_channel(fake: Fake, path: str, channel: str, body: dict[str, Any]) -> None:
    token = fake.work_token() if channel.startswith("work") else fake.mp_token()

    assert fake.post(path, body, access_token=token)["errcode"] == 0
    assert fake.sent(channel) == [{"channel": channel, "path": path, "body": body}]


def test_message_missing_its_recipient_is_rejected_and_not_recorded(fake: Fake) -> None:
    reply = fake.post("/cgi-bin/message/subscribe/send", {"template_id": "T"}, access_token=fake.mp_token())

    assert reply["errcode"] != 0
    assert fake.get_list("/_sent") == []


def test_template_message_with_a_repeated_client_msg_id_is_sent_once(fake: Fake) -> None:
    token = fake.mp_token()
    body = {"touser": "mp_a", "template_id": "T", "data": {"v": {"value": "积分"}}, "client_msg_id": "evt-1"}

    replies = [fake.post("/cgi-bin/message/template/send", body, access_token=token) for _ in range(3)]

    assert [r["errcode"] for r in replies] == [0, 0, 0]
    assert len(fake.sent("mp_template")) == 1
    assert fake.sent("mp_template")[0]["body"]["data"]["v"]["value"] == "积分"


def test_injected_errcode_answers_http_200_for_the_next_calls_only(fake: Fake) -> None:
    token = fake.work_token()
    fake.post("/_fail", {"path": "/cgi-bin/auth/getuserinfo", "times": 2, "errcode": 45009})

    codes = [fake.get("/cgi-bin/auth/getuserinfo", access_token=token, code="staff:a").get("errcode") for _ in range(3)]

    assert codes == [45009, 45009, 0]


def test_injected_status_keeps_its_old_form(fake: Fake) -> None:
    fake.post("/_fail", {"path": "/cgi-bin/gettoken", "times": 1, "status": 503})

    response = requests.get(f"{fake.url}/cgi-bin/gettoken", params={"corpid": "c", "corpsecret": "s"}, timeout=5)

    assert (response.status_code, response.json()["errcode"]) == (503, -1)


def test_keep_stable_invalidation_serves_the_rejected_token_until_a_forced_refresh(fake: Fake) -> None:
    stale = fake.mp_token()
    fake.post("/_invalidate_tokens", {"keep_stable": True})
    body = {"grant_type": "client_credential", "appid": "wx_mp", "secret": "s"}

    assert fake.post("/cgi-bin/stable_token", body)["access_token"] == stale
    forced = fake.post("/cgi-bin/stable_token", body | {"force_refresh": True})["access_token"]
    assert forced != stale
    assert fake.get("/cgi-bin/user/info", access_token=stale, openid="mp_a")["errcode"] == 40001
    assert fake.get("/cgi-bin/user/info", access_token=forced, openid="mp_a")["unionid"] == "u_a"


def test_reset_forgets_calls_sent_messages_and_fixtures(fake: Fake) -> None:
    token = fake.mp_token()
    fake.post("/_users", {"openid": "x1", "unionid": "u_x"})
    fake.post("/cgi-bin/message/subscribe/send", {"touser": "o", "template_id": "T"}, access_token=token)

    fake.post("/_reset", {})

    assert fake.get_list("/_calls") == [] and fake.get_list("/_sent") == []
    assert fake.get("/cgi-bin/user/info", access_token=fake.mp_token(), openid="x1")["errcode"] == 40003
