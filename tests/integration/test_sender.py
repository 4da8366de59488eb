"""The notification sender: channel choice, consents, WeChat error paths, one send per event."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
import requests

from chalicelib.clock import iso, utc_now
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.tasks import PermanentFailure, RetryLater
from chalicelib.notify import consumer, delivery, dlq, events, sender
from chalicelib.settings import get_settings
from chalicelib.store import notify_repo
from chalicelib.store.models import DeliveryModel, MemberModel
from tests.support.api import Api, dumps, member_headers
from tests.support.notify import asks_for_retry, drain_into_worker, fail_next, reset_fake_wechat, sent_messages

TEMPLATE = "tmpl_points_expiring"
SUBSCRIBE = "/cgi-bin/message/subscribe/send"


@pytest.fixture
def wechat(fake_wechat: str) -> str:
    return reset_fake_wechat(fake_wechat)


def _expiring(member_id: str, event_id: str = "remind:x:2026-12-31:7") -> DomainEvent:
    data = {"points": 120, "expires_on": "2026-12-31", "days_left": 7}
    return DomainEvent(event_id, "points.expiring", member_id, "2026-11-24T02:00:00Z", data)


def _consent(api: Api, token: str, key: str, results: dict[str, str]) -> Any:
    headers = member_headers(token, **{"Idempotency-Key": key})
    return api.http.post("/v1/me/subscriptions", body=dumps({"results": results}), headers=headers)


def _consenting(api: Api, name: str) -> tuple[str, str]:
    """A member who accepted one subscribe message for TEMPLATE: (token, member id)."""
    token, member_id = api.login(name)
    assert _consent(api, token, "c1", {TEMPLATE: "accept"}).status_code == 200
    return token, member_id


def test_consented_member_gets_one_subscribe_message_and_the_consent_is_used(api: Api, wechat: str) -> None:
    token, member_id = api.login("sendy")
    assert _consent(api, token, "c1", {TEMPLATE: "accept"}).json_body["consents"] == {TEMPLATE: 1}

    sender.deliver(_expiring(member_id))
    sender.deliver(_expiring(member_id))  # SQS redelivery

    sent = sent_messages(wechat, "mini_subscribe")
    assert len(sent) == 1
    body = sent[0]["body"]
    assert body["touser"] == "o_sendy" and body["template_id"] == TEMPLATE
    assert body["data"]["number1"] == {"value": "120"} and body["lang"] == "zh_CN"
    assert notify_repo.consents(member_id) == {TEMPLATE: 0}


def test_member_without_consent_or_follow_is_skipped(api: Api, wechat: str) -> None:
    _token, member_id = api.login("quiet")

    sender.deliver(_expiring(member_id))

    assert sent_messages(wechat, "mini_subscribe") == []
    assert notify_repo.get_delivery("remind:x:2026-12-31:7#member")["detail"] == {"reason": "no_consent"}  # type: ignore[index]


def test_retried_consent_report_adds_one_consent(api: Api, wechat: str) -> None:
    token, member_id = api.login("twice")
    for _ in range(3):
        assert _consent(api, token, "same-key", {TEMPLATE: "accept", "tmpl_birthday": "reject"}).status_code == 200

    assert notify_repo.consents(member_id) == {TEMPLATE: 1}
    conflict = _consent(api, token, "same-key", {TEMPLATE: "reject"})
    assert conflict.status_code == 409


def test_unknown_template_is_rejected_naming_the_field(api: Api, wechat: str) -> None:
    token, _ = api.login("typo")
    response = _consent(api, token, "k1", {"tmpl_nope": "accept"})

    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == "results.tmpl_nope"


def test_refused_send_consumes_the_consent_and_is_not_retried(api: Api, wechat: str) -> None:
    token, member_id = _consenting(api, "refuser")
    fail_next(wechat, SUBSCRIBE, errcode=43101)

    sender.deliver(_expiring(member_id))

    assert notify_repo.consents(member_id) == {TEMPLATE: 0}
    assert notify_repo.get_delivery("remind:x:2026-12-31:7#member")["status"] == "skipped"  # type: ignore[index]


def test_rate_limited_send_is_retried_later_with_the_consent_given_back(api: Api, wechat: str) -> None:
    token, member_id = _consenting(api, "busy")
    fail_next(wechat, SUBSCRIBE, errcode=45009)

    with pytest.raises(RetryLater):
        sender.deliver(_expiring(member_id))
    assert notify_repo.consents(member_id) == {TEMPLATE: 1}

    sender.deliver(_expiring(member_id))  # the redelivery sends
    assert len(sent_messages(wechat, "mini_subscribe")) == 1
    assert notify_repo.consents(member_id) == {TEMPLATE: 0}


def test_invalid_token_is_refreshed_once_and_the_message_sent(api: Api, wechat: str) -> None:
    token, member_id = _consenting(api, "stale")
    sender.deliver(_expiring(member_id, "warm-up"))  # caches a token
    _consent(api, token, "c2", {TEMPLATE: "accept"})
    requests.post(f"{wechat}/_invalidate_tokens", timeout=5)

    sender.deliver(_expiring(member_id))

    assert len(sent_messages(wechat, "mini_subscribe")) == 2


def test_other_wechat_error_dead_letters_with_the_reason(api: Api, wechat: str) -> None:
    token, member_id = _consenting(api, "broken")
    fail_next(wechat, SUBSCRIBE, errcode=40037)

    with pytest.raises(PermanentFailure, match="errcode 40037"):
        sender.deliver(_expiring(member_id))
    assert notify_repo.get_delivery("remind:x:2026-12-31:7#member")["status"] == "failed"  # type: ignore[index]


def test_concurrent_redeliveries_send_once_and_never_overdraw_consents(api: Api, wechat: str) -> None:
    token, member_id = _consenting(api, "racer")
    _consent(api, token, "c2", {TEMPLATE: "accept"})

    pending = [_expiring(member_id, f"e{n % 3}") for n in range(12)]  # 3 distinct events, 4 copies each
    while pending:  # a copy that meets another one in flight asks to come back later
        with ThreadPoolExecutor(max_workers=6) as pool:
            retry = list(pool.map(asks_for_retry, pending))
        pending = [event for event, again in zip(pending, retry, strict=True) if again]

    assert len(sent_messages(wechat, "mini_subscribe")) == 2  # two consents: two sends, the third skipped
    assert notify_repo.consents(member_id) == {TEMPLATE: 0}
    assert {notify_repo.get_delivery(f"e{n}#member")["status"] for n in range(3)} == {"sent", "skipped"}  # type: ignore[index]


def test_redelivery_while_a_claim_is_fresh_retries_later_and_a_stale_claim_is_settled_without_resending(
    api: Api, wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, member_id = _consenting(api, "stuck")
    # An attempt claimed the delivery and died before recording the outcome (Lambda timeout).
    claimed_at = iso(utc_now() - timedelta(minutes=5))
    notify_repo.claim_delivery("remind:x:2026-12-31:7#member", member_id, claimed_at, delivery.KEEP)

    monkeypatch.setattr(delivery, "STALE_CLAIM", timedelta(days=3650))
    with pytest.raises(RetryLater, match="in progress"):
        sender.deliver(_expiring(member_id))  # it might still be sending: come back later
    monkeypatch.setattr(delivery, "STALE_CLAIM", timedelta(seconds=45))
    sender.deliver(_expiring(member_id))  # older than any attempt: settled, not sent again
    sender.deliver(_expiring(member_id))  # nor by a later copy: the first attempt may have reached WeChat

    settled = notify_repo.get_delivery("remind:x:2026-12-31:7#member")
    assert settled is not None and settled["status"] == "failed" and settled["detail"]["unconfirmed"] is True
    assert sent_messages(wechat, "mini_subscribe") == [] and notify_repo.consents(member_id) == {TEMPLATE: 1}


def _follow(member_id: str, openid: str) -> None:
    MemberModel(member_id).update(actions=[MemberModel.mp_openid.set(openid), MemberModel.mp_followed.set(True)])


def test_follower_without_consent_gets_a_template_message_that_wechat_deduplicates(api: Api, wechat: str) -> None:
    _token, member_id = api.login("follower")
    _follow(member_id, "mp_follower")

    sender.deliver(_expiring(member_id))
    # The delivery record is gone (expired, or lost with a restored table): the message is sent
    # again with the same client_msg_id, and WeChat drops the copy.
    DeliveryModel("remind:x:2026-12-31:7#member").delete()
    sender.deliver(_expiring(member_id))

    [sent] = sent_messages(wechat, "mp_template")
    body = sent["body"]
    assert body["touser"] == "mp_follower" and body["template_id"] == "mp_points_expiring"
    assert body["client_msg_id"] == delivery.client_msg_id("remind:x:2026-12-31:7")
    assert body["miniprogram"] == {"appid": "wx_test_mini", "pagepath": "pages/points/index"}
    assert body["data"]["keyword2"] == {"value": "2026-12-31"}
    assert sent_messages(wechat, "mini_subscribe") == []


def test_consent_is_preferred_to_the_template_message(api: Api, wechat: str) -> None:
    token, member_id = api.login("both")
    _follow(member_id, "mp_both")
    _consent(api, token, "c1", {TEMPLATE: "accept"})

    sender.deliver(_expiring(member_id, "first"))
    sender.deliver(_expiring(member_id, "second"))  # the consent is used up: the account takes over

    assert [s["body"]["touser"] for s in sent_messages(wechat, "mini_subscribe")] == ["o_both"]
    assert [s["body"]["touser"] for s in sent_messages(wechat, "mp_template")] == ["mp_both"]


def test_staff_event_goes_to_the_customers_follow_users_by_wechat_work(api: Api, wechat: str) -> None:
    _token, member_id = api.login("customer")
    MemberModel(member_id).update(actions=[MemberModel.work_follow_users.set({"staff_b", "staff_a"})])
    event = DomainEvent("added:1", "staff.customer_added", member_id, "2026-11-24T02:00:00Z", {"balance": 35})

    sender.deliver(event)
    sender.deliver(event)

    [sent] = sent_messages(wechat, "work_message")
    assert sent["body"]["touser"] == "staff_a|staff_b"
    assert "积分 35" in sent["body"]["text"]["content"]
    assert sent_messages(wechat, "mini_subscribe") == [] and sent_messages(wechat, "mp_template") == []


def test_event_for_a_merged_member_reaches_the_survivor(api: Api, wechat: str) -> None:
    _t, merged_id = api.login("old_self")
    token, survivor_id = _consenting(api, "new_self")
    MemberModel(merged_id).update(actions=[MemberModel.merged_into.set(survivor_id)])

    sender.deliver(_expiring(merged_id))

    assert [s["body"]["touser"] for s in sent_messages(wechat, "mini_subscribe")] == ["o_new_self"]


@pytest.mark.parametrize("errcode", [45009, 45011, 45047, -1])
def test_each_rate_limit_code_retries_later_and_keeps_the_consent(api: Api, wechat: str, errcode: int) -> None:
    token, member_id = _consenting(api, f"limited{errcode}")
    fail_next(wechat, SUBSCRIBE, errcode=errcode)

    with pytest.raises(RetryLater, match=f"errcode {errcode}"):
        sender.deliver(_expiring(member_id))

    assert notify_repo.consents(member_id) == {TEMPLATE: 1}
    assert notify_repo.get_delivery("remind:x:2026-12-31:7#member") is None  # the redelivery may send


def test_unreachable_wechat_retries_later(api: Api, wechat: str) -> None:
    token, member_id = _consenting(api, "offline")
    fail_next(wechat, SUBSCRIBE, status=502)

    with pytest.raises(RetryLater, match="unreachable"):
        sender.deliver(_expiring(member_id))
    sender.deliver(_expiring(member_id))

    assert len(sent_messages(wechat, "mini_subscribe")) == 1
    assert notify_repo.consents(member_id) == {TEMPLATE: 0}


def _dlq() -> str:
    return events.queue_url(get_settings().events_dlq_name)


def test_dead_letter_is_listed_with_its_reason_and_sent_once_after_redrive(api: Api, wechat: str) -> None:
    token, member_id = _consenting(api, "letter")
    fail_next(wechat, SUBSCRIBE, errcode=40037)
    consumer.handle_record(_expiring(member_id).to_json())
    assert notify_repo.consents(member_id) == {TEMPLATE: 1}  # WeChat used nothing: ours is kept

    [letter] = dlq.list_dead_letters(10)
    [again] = dlq.list_dead_letters(10)  # listing consumes nothing (SQS counts the peek as a receive)
    assert (again["body"], again["reason"], again["receive_count"]) == (letter["body"], letter["reason"], 2)
    assert letter["reason"] == "mini: errcode 40037: injected failure"
    assert DomainEvent.from_json(letter["body"]).event_id == "remind:x:2026-12-31:7"

    assert dlq.redrive(None) == 1  # the template id was fixed meanwhile: send it again
    assert dlq.list_dead_letters(10) == []
    drain_into_worker()
    drain_into_worker()

    assert len(sent_messages(wechat, "mini_subscribe")) == 1
    assert notify_repo.get_delivery("remind:x:2026-12-31:7#member")["status"] == "sent"  # type: ignore[index]


def test_redrive_moves_at_most_the_limit(api: Api, wechat: str) -> None:
    for n in range(12):
        consumer.dead_letter(f'{{"n": {n}}}', "test")

    assert dlq.redrive(5) == 5
    assert len(dlq.list_dead_letters(20)) == 7
    assert dlq.redrive(None) == 7
    assert dlq.list_dead_letters(20) == []
