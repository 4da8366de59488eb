"""Official-account callbacks (`/wechat/mp`): verification, modes, every event, retries, hostile XML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.clock import epoch_seconds, local_date, utc_now
from chalicelib.domain.points import RollingExpiry
from chalicelib.store import members_repo
from chalicelib.store.models import CallbackModel, MemberModel
from tests.support.api import Api, paid_at
from tests.support.wechat import (
    XML_HEADERS,
    mp_event,
    mp_plain_query,
    mp_safe,
    mp_text,
    read_mp_reply,
    signature,
)
from tests.support.worker import drain, run_worker


def post_safe(api: Api, plain: str, **headers: str) -> Any:
    path, body = mp_safe(plain)
    return api.http.post(path, body=body, headers=headers or XML_HEADERS)


def member_of(openid: str) -> Any:
    found = members_repo.find_member_ids([f"mp:{openid}"]).get(f"mp:{openid}")
    return members_repo.get_live_member(found) if found else None


def stored_callbacks() -> int:
    return sum(1 for _ in CallbackModel.scan())


# --- the official sample vectors (WeChat's message-encryption documentation) ---------------

OFFICIAL_MP = {
    "WECHAT_MP_TOKEN": "spamtest",
    "WECHAT_MP_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "WECHAT_MP_APPID": "wx2c2769f8efd9abc2",
}
OFFICIAL_MP_BODY = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]>"
    "</FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]>"
    "</Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655"
    "HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNl"
    "ZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3y"
    "ZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSg"
    "M9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>"
)


def frozen_at(monkeypatch: pytest.MonkeyPatch, epoch: int) -> None:
    moment = datetime.fromtimestamp(epoch, UTC)
    monkeypatch.setattr("chalicelib.api.wechat_callbacks.utc_now", lambda: moment)


def reconfigured(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    from chalicelib.settings import get_settings

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def test_official_sample_message_verifies_and_decrypts(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    reconfigured(monkeypatch, **OFFICIAL_MP)
    frozen_at(monkeypatch, 1409735669)
    query = (
        "msg_signature=5d197aaffba7e9b25a30732f161a50dee96bd5fa&timestamp=1409735669&nonce=1320562132&encrypt_type=aes"
    )
    response = api.http.post(f"/wechat/mp?{query}", body=OFFICIAL_MP_BODY, headers=XML_HEADERS)
    assert (response.status_code, response.body) == (200, b"success")
    # The decrypted MsgId is what the retry guard remembers: proof the ciphertext was read.
    assert CallbackModel.get("mp:gh_10f6c3c3ac5a:msg:6054768590064713728").status == "done"

    tampered = query.replace("5d197aaf", "5d197aab")
    assert api.http.post(f"/wechat/mp?{tampered}", body=OFFICIAL_MP_BODY, headers=XML_HEADERS).status_code == 403


def test_url_verification_echoes_only_with_a_good_signature(api: Api) -> None:
    path = mp_plain_query() + "&echostr=hello-123"
    assert api.http.get(path).body == b"hello-123"
    bad = mp_plain_query(token="not-our-token") + "&echostr=hello-123"
    assert api.http.get(bad).status_code == 403
    stale = mp_plain_query(timestamp=int(epoch_seconds()) - 3600) + "&echostr=hello-123"
    assert api.http.get(stale).status_code == 403, "an old signed URL is a replay"


# --- modes ---------------------------------------------------------------------------------


def test_safe_mode_reply_decrypts_with_wechatpy(api: Api) -> None:
    response = post_safe(api, mp_event("mp_alice", "subscribe"))
    assert response.status_code == 200
    reply = read_mp_reply(response.body.decode())
    assert reply["MsgType"] == "text" and "会员中心" in reply["Content"]
    assert reply["ToUserName"] == "mp_alice"


def test_plaintext_mode_when_no_aes_key_is_configured(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    reconfigured(monkeypatch, WECHAT_MP_AES_KEY="")
    response = api.http.post(mp_plain_query(), body=mp_event("mp_plain", "subscribe"), headers={})
    assert response.status_code == 200, response.body
    assert "会员中心" in read_mp_reply(response.body.decode())["Content"]
    assert member_of("mp_plain").mp_followed is True


def test_plaintext_request_is_refused_when_an_aes_key_is_configured(api: Api) -> None:
    response = api.http.post(mp_plain_query(), body=mp_event("mp_sneaky", "subscribe"), headers=XML_HEADERS)
    assert response.status_code == 403
    assert member_of("mp_sneaky") is None and stored_callbacks() == 0


def test_compatible_mode_reads_the_encrypted_copy_not_the_plaintext(api: Api) -> None:
    path, body = mp_safe(mp_event("mp_real", "subscribe"))
    forged = body.replace("</xml>", "<FromUserName><![CDATA[mp_forged]]></FromUserName><MsgType>event</MsgType></xml>")
    assert api.http.post(path, body=forged, headers=XML_HEADERS).status_code == 200
    assert member_of("mp_real") is not None and member_of("mp_forged") is None


def test_request_without_content_type_is_accepted(api: Api) -> None:
    path, body = mp_safe(mp_event("mp_noct", "subscribe"))
    assert api.http.post(path, body=body, headers={}).status_code == 200


# --- events --------------------------------------------------------------------------------


def test_subscribe_creates_a_following_member_and_learns_the_unionid_in_the_background(api: Api) -> None:
    _, mini_member = api.login("carol")  # unionid u_carol from the mini-program
    post_safe(api, mp_event("mp_carol", "subscribe"))
    follower = member_of("mp_carol")
    assert follower.member_id != mini_member and follower.mp_followed is True

    assert run_worker() == ["task.mp_user_sync"]  # cgi-bin/user/info: mp_carol → u_carol

    assert member_of("mp_carol").member_id == mini_member, "one member across mini-program and official account"
    assert members_repo.get_member(mini_member).mp_followed is True


def test_follower_who_later_logs_into_the_mini_program_is_the_same_member(api: Api) -> None:
    post_safe(api, mp_event("mp_zed", "subscribe"))
    follower = member_of("mp_zed").member_id
    run_worker()  # the unionid u_zed becomes an alias of the follower

    _, logged_in = api.login("zed")

    assert logged_in == follower
    assert members_repo.get_member(follower).mini_openid == "o_zed"


def test_subscribe_through_a_store_qr_code_records_the_first_attribution_only(api: Api) -> None:
    post_safe(api, mp_event("mp_dan", "subscribe", EventKey="qrscene_store_S001", Ticket="t1"))
    first = MemberModel.get(member_of("mp_dan").member_id).attribution
    assert (first["kind"], first["id"]) == ("store", "S001")

    post_safe(api, mp_event("mp_dan", "SCAN", EventKey="ref_m_friend", Ticket="t2"))
    assert MemberModel.get(member_of("mp_dan").member_id).attribution["id"] == "S001"


def test_scan_attributes_a_follower_who_had_none(api: Api) -> None:
    post_safe(api, mp_event("mp_eve", "subscribe"))
    post_safe(api, mp_event("mp_eve", "SCAN", EventKey="ref_m_friend", Ticket="t"))
    assert MemberModel.get(member_of("mp_eve").member_id).attribution["kind"] == "referral"


def test_unsubscribe_keeps_the_member_and_points_and_a_late_subscribe_does_not_undo_it(api: Api) -> None:
    now = int(epoch_seconds())
    post_safe(api, mp_event("mp_fay", "subscribe", create_time=now - 60))
    member_id = member_of("mp_fay").member_id
    api.order("F-1", {"member_id": member_id}, 10_000)
    post_safe(api, mp_event("mp_fay", "unsubscribe", create_time=now - 30))
    post_safe(api, mp_event("mp_fay", "subscribe", create_time=now - 45))  # delivered late, happened before

    member = members_repo.get_member(member_id)
    assert (member.mp_followed, member.balance) == (False, 100)


@pytest.mark.parametrize("message", ["积分", "积分查询", "查积分", " 积分 "])
def test_points_keywords_reply_with_balance_tier_and_next_expiry(api: Api, message: str) -> None:
    post_safe(api, mp_event("mp_gus", "subscribe"))
    api.order("G-1", {"member_id": member_of("mp_gus").member_id}, 123_400)

    reply = read_mp_reply(post_safe(api, mp_text("mp_gus", message, msg_id=7001)).body.decode())

    assert "可用积分：1234" in reply["Content"] and "普通会员" in reply["Content"]
    expires_on = RollingExpiry(12).expires_on(local_date(datetime.fromisoformat(paid_at()), "Asia/Shanghai"))
    assert f"1234 积分将于 {expires_on.isoformat()} 到期" in reply["Content"]


def test_points_menu_click_replies_and_a_stranger_is_invited_to_join(api: Api) -> None:
    post_safe(api, mp_event("mp_hal", "subscribe"))
    clicked = read_mp_reply(post_safe(api, mp_event("mp_hal", "CLICK", EventKey="MY_POINTS")).body.decode())
    assert "可用积分：0" in clicked["Content"] and "暂无即将到期的积分" in clicked["Content"]

    stranger = read_mp_reply(post_safe(api, mp_text("mp_nobody", "积分", msg_id=7002)).body.decode())
    assert "注册会员" in stranger["Content"]
    assert member_of("mp_nobody") is None, "asking does not create a member"


def test_membership_card_events_link_record_and_unlink_the_card(api: Api) -> None:
    _, member_id = api.login("ivy")
    post_safe(api, mp_event("mp_ivy", "user_get_card", CardId="p_card", UserCardCode="C123", UnionId="u_ivy"))
    assert members_repo.get_member(member_id).card_code == "C123", "found by the unionid the event carries"
    assert members_repo.find_member_ids(["card:C123"]) == {"card:C123": member_id}
    drain()

    post_safe(
        api, mp_event("mp_ivy", "user_consume_card", CardId="p_card", UserCardCode="C123", ConsumeSource="FROM_API")
    )
    consumed = [body for body in drain() if body["kind"] == "card.consumed"]
    assert [(e["member_id"], e["data"]["card_code"]) for e in consumed] == [(member_id, "C123")]

    post_safe(api, mp_event("mp_ivy", "user_del_card", CardId="p_card", UserCardCode="C123"))
    assert members_repo.get_member(member_id).card_code is None


@pytest.mark.parametrize(
    "plain",
    [
        mp_event("mp_jo", "VIEW", EventKey="https://example.com"),
        mp_event("mp_jo", "LOCATION", Latitude="23.1", Longitude="113.3", Precision="1"),
        mp_event("mp_jo", "TEMPLATESENDJOBFINISH", Status="success", MsgID=1),
        mp_text("mp_jo", "你好", msg_id=9001),
        mp_event("mp_jo", "something_new_from_wechat"),
    ],
)
def test_anything_else_is_answered_success(api: Api, plain: str) -> None:
    response = post_safe(api, plain)
    assert (response.status_code, response.body) == (200, b"success")


# --- retries -------------------------------------------------------------------------------


def test_retried_subscribe_gets_the_same_reply_and_has_one_effect(api: Api) -> None:
    plain = mp_event("mp_kim", "subscribe", create_time=int(epoch_seconds()))
    replies = {read_mp_reply(post_safe(api, plain).body.decode())["Content"] for _ in range(3)}

    assert len(replies) == 1
    assert [body["kind"] for body in drain()] == ["task.mp_user_sync"], "one background task, not three"
    assert stored_callbacks() == 1


def test_retried_points_query_is_answered_from_the_record(api: Api) -> None:
    post_safe(api, mp_event("mp_lou", "subscribe"))
    first = post_safe(api, mp_text("mp_lou", "积分", msg_id=8001))
    api.order("L-1", {"member_id": member_of("mp_lou").member_id}, 50_000)
    again = post_safe(api, mp_text("mp_lou", "积分", msg_id=8001))
    assert read_mp_reply(first.body.decode())["Content"] == read_mp_reply(again.body.decode())["Content"]


# --- refusals ------------------------------------------------------------------------------


def test_bad_msg_signature_is_refused_and_nothing_is_stored(api: Api) -> None:
    path, body = mp_safe(mp_event("mp_mal", "subscribe"))
    bad = path.replace("msg_signature=", "msg_signature=0")
    assert api.http.post(bad, body=body, headers=XML_HEADERS).status_code == 403
    assert member_of("mp_mal") is None and stored_callbacks() == 0


XXE = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>'
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml><Encrypt>&lol3;</Encrypt></xml>'
)


@pytest.mark.parametrize("body", [XXE, LAUGHS, "<xml><Encrypt>", "not xml at all", "<other/>", ""])
def test_hostile_or_malformed_xml_is_refused_with_400(api: Api, body: str) -> None:
    path, _ = mp_safe(mp_event("mp_x", "subscribe"))
    response = api.http.post(path, body=body, headers=XML_HEADERS)
    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == "body"
    assert stored_callbacks() == 0


def test_entities_inside_the_encrypted_message_are_refused_too(api: Api) -> None:
    response = post_safe(api, LAUGHS.replace("<Encrypt>&lol3;</Encrypt>", "<MsgType>&lol3;</MsgType>"))
    assert response.status_code == 400 and stored_callbacks() == 0


def test_signed_message_without_msgtype_names_the_field(api: Api) -> None:
    response = post_safe(api, "<xml><FromUserName>mp_y</FromUserName><CreateTime>1</CreateTime></xml>")
    assert (response.status_code, response.json_body["error"]["fields"][0]["field"]) == (400, "MsgType")


def test_signature_check_uses_the_exact_query(api: Api) -> None:
    stamp = str(int(epoch_seconds()))
    sig = signature("test-mp-token", stamp, "abc")
    client_path = f"/wechat/mp?signature={sig}&timestamp={stamp}&nonce=abd&echostr=e"
    assert api.http.get(client_path).status_code == 403


def test_no_route_answers_500_for_a_missing_query(api: Api) -> None:
    for method, path in (
        ("GET", "/wechat/mp"),
        ("POST", "/wechat/mp"),
        ("GET", "/wechat/work"),
        ("POST", "/wechat/work"),
    ):
        response = api.http.request(method, path, body=b"<xml/>", headers=XML_HEADERS)
        assert response.status_code in (400, 403), (method, path, response.status_code)


def test_follow_state_lands_on_the_survivor_of_a_merge_that_happened_meanwhile(api: Api) -> None:
    from chalicelib.services.identity import merge_members
    from chalicelib.store import channels_repo

    post_safe(api, mp_event("mp_mo", "subscribe", create_time=int(epoch_seconds()) - 10))
    merged = member_of("mp_mo").member_id
    _, survivor = api.login("mo_other")
    merge_members(survivor, merged, trigger="operator", now=utc_now(), operator="alice", reason="same person")

    assert channels_repo.set_mp_follow(merged, False, int(epoch_seconds())) is True  # the caller still held the old id

    assert members_repo.get_member(survivor).mp_followed is False


def test_card_consumed_by_someone_who_is_not_a_member_is_answered_success_and_records_nothing(api: Api) -> None:
    response = post_safe(api, mp_event("mp_ghost", "user_consume_card", CardId="p_card", UserCardCode="C999"))
    assert (response.status_code, response.body) == (200, b"success")
    assert drain() == [] and member_of("mp_ghost") is None
