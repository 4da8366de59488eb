"""WeChat Work callbacks (`/wechat/work`): verification, external-contact events, corporate tags."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from chalicelib.clock import utc_now
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.tasks import RetryLater
from chalicelib.notify import consumer
from chalicelib.store import members_repo
from chalicelib.store.models import CallbackModel
from tests.support.api import Api
from tests.support.notify import fail_next, reset_fake_wechat, sent_messages
from tests.support.wechat import XML_HEADERS, contact_change, signature, work_crypto, work_post
from tests.support.worker import drain, run_worker

OFFICIAL_WORK = {
    "WECHAT_WORK_TOKEN": "QDG6eK",
    "WECHAT_WORK_AES_KEY": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C",
    "WECHAT_WORK_CORPID": "wx5823bf96d3bd56c7",
}
OFFICIAL_ECHOSTR = "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
OFFICIAL_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUk"
    "SUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekU"
    "NXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rU"
    "PA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+"
    "qN+E7Q=="
)


@pytest.fixture
def wechat(fake_wechat: str) -> str:
    return reset_fake_wechat(fake_wechat)


def official(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    from chalicelib.settings import get_settings

    for name, value in OFFICIAL_WORK.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    moment = datetime.fromtimestamp(epoch, UTC)
    monkeypatch.setattr("chalicelib.api.wechat_callbacks.utc_now", lambda: moment)


def sent(url: str, channel: str) -> list[dict[str, Any]]:
    return [entry["body"] for entry in sent_messages(url, channel)]


def post(api: Api, plain: str) -> Any:
    path, body = work_post(plain)
    return api.http.post(path, body=body, headers=XML_HEADERS)


def test_official_sample_url_verification_returns_only_the_plaintext(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    official(monkeypatch, 1409659589)
    query = f"msg_signature=5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3&timestamp=1409659589&nonce=263014780&echostr={requests.utils.quote(OFFICIAL_ECHOSTR, safe='')}"
    response = api.http.get(f"/wechat/work?{query}")
    assert (response.status_code, response.body) == (200, b"1616140317555161061")
    assert api.http.get(f"/wechat/work?{query.replace('5c45', '5c46')}").status_code == 403


def test_official_sample_message_verifies_and_decrypts(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    official(monkeypatch, 1409659813)
    body = f"<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt><![CDATA[{OFFICIAL_ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
    query = "msg_signature=477715d11cdb4164915debcba66cb864d751f3e6&timestamp=1409659813&nonce=1372623149"
    response = api.http.post(f"/wechat/work?{query}", body=body, headers=XML_HEADERS)
    assert (response.status_code, response.body) == (200, b"")
    assert CallbackModel.get("work:wx5823bf96d3bd56c7:msg:4561255354251345929").status == "done"


def test_our_own_url_verification_round_trip(api: Api) -> None:
    stamp, nonce = str(int(utc_now().timestamp())), "123"
    echostr = work_crypto().encrypt_message("9876543210", nonce, stamp)
    encrypted = echostr.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
    sig = signature("test-work-token", stamp, nonce, encrypted)
    path = f"/wechat/work?msg_signature={sig}&timestamp={stamp}&nonce={nonce}&echostr={requests.utils.quote(encrypted, safe='')}"
    assert api.http.get(path).body == b"9876543210"


def test_added_contact_links_the_member_by_unionid_and_records_the_staff(api: Api, wechat: str) -> None:
    _, member_id = api.login("nina")  # unionid u_nina
    drain()
    response = post(api, contact_change("add_external_contact", "wm_nina"))
    assert (response.status_code, response.body) == (200, b"")

    handled = run_worker()

    member = members_repo.get_member(member_id)
    assert member.work_external_userid == "wm_nina" and member.work_follow_users == frozenset({"staff_a"})
    assert handled[0] == "task.work_contact_sync" and "task.work_mark_tag" in handled
    tags = sent(wechat, "work_tag")
    assert tags == [{"userid": "staff_a", "external_userid": "wm_nina", "add_tag": ["et_tier_normal"]}]
    assert len(sent(wechat, "work_message")) == 1, "the staff member hears about the new customer"


def test_contact_of_someone_who_is_not_yet_a_member_creates_the_member(api: Api, wechat: str) -> None:
    post(api, contact_change("add_external_contact", "wm_omar"))
    run_worker()
    found = members_repo.find_member_ids(["work:wm_omar", "union:u_omar"])
    assert len(set(found.values())) == 1 and len(found) == 2
    _, logged_in = api.login("omar")
    assert logged_in == found["union:u_omar"], "the mini-program login lands on the same member"


def test_deleted_follow_user_is_removed_using_wechats_list(api: Api, wechat: str) -> None:
    requests.post(
        f"{wechat}/_contacts",
        json={"external_userid": "wm_pia", "unionid": "u_pia", "follow_user": ["staff_a", "staff_b"]},
        timeout=5,
    )
    post(api, contact_change("add_external_contact", "wm_pia", "staff_b"))
    run_worker()
    member_id = members_repo.find_member_ids(["work:wm_pia"])["work:wm_pia"]
    assert members_repo.get_member(member_id).work_follow_users == frozenset({"staff_a", "staff_b"})

    requests.post(
        f"{wechat}/_contacts",
        json={"external_userid": "wm_pia", "unionid": "u_pia", "follow_user": ["staff_a"]},
        timeout=5,
    )
    post(api, contact_change("del_follow_user", "wm_pia", "staff_b"))
    run_worker()
    assert members_repo.get_member(member_id).work_follow_users == frozenset({"staff_a"})


def test_contact_nobody_follows_any_more_clears_the_staff(api: Api, wechat: str) -> None:
    post(api, contact_change("add_external_contact", "wm_quinn"))
    run_worker()
    member_id = members_repo.find_member_ids(["work:wm_quinn"])["work:wm_quinn"]
    fail_next(wechat, "/cgi-bin/externalcontact/get", errcode=84061)

    post(api, contact_change("del_external_contact", "wm_quinn"))
    run_worker()

    assert members_repo.get_member(member_id).work_follow_users == frozenset()


def test_retried_contact_event_queues_one_sync(api: Api) -> None:
    plain = contact_change("add_external_contact", "wm_ray", create_time=int(utc_now().timestamp()))
    for _ in range(3):
        path, body = work_post(plain)
        assert api.http.post(path, body=body, headers=XML_HEADERS).status_code == 200
    assert [body["kind"] for body in drain()] == ["task.work_contact_sync"]


def test_tier_change_moves_the_contact_to_the_new_tier_tag(api: Api, wechat: str) -> None:
    _, member_id = api.login("sam")
    post(api, contact_change("add_external_contact", "wm_sam"))
    run_worker()
    requests.post(f"{wechat}/_reset", timeout=5)

    api.order("S-1", {"member_id": member_id}, 300_000)  # growth 3000: silver
    run_worker()

    assert sent(wechat, "work_tag") == [
        {
            "userid": "staff_a",
            "external_userid": "wm_sam",
            "add_tag": ["et_tier_silver"],
            "remove_tag": ["et_tier_normal"],
        }
    ]


def test_mark_tag_rate_limit_is_retried_and_other_refusals_dead_letter(api: Api, wechat: str) -> None:
    data = {"external_userid": "wm_t", "userids": ["staff_a"], "tier_code": "gold", "previous_tier_code": "silver"}
    task = DomainEvent("x#task.work_mark_tag", "task.work_mark_tag", "m_t", "2026-11-23T00:00:00Z", data)
    fail_next(wechat, "/cgi-bin/externalcontact/mark_tag", errcode=45009)
    with pytest.raises(RetryLater):
        consumer.handle_record(task.to_json())

    fail_next(wechat, "/cgi-bin/externalcontact/mark_tag", errcode=40068)
    consumer.handle_record(task.to_json())  # dead-lettered, not raised
    assert sent(wechat, "work_tag") == []


def test_bad_signature_and_hostile_xml_change_nothing(api: Api) -> None:
    path, body = work_post(contact_change("add_external_contact", "wm_evil"))
    assert (
        api.http.post(path.replace("msg_signature=", "msg_signature=1"), body=body, headers=XML_HEADERS).status_code
        == 403
    )
    laughs = '<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>'
    assert api.http.post(path, body=laughs, headers=XML_HEADERS).status_code == 400
    assert drain() == [] and sum(1 for _ in CallbackModel.scan()) == 0
