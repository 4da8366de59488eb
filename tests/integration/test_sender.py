"""The notification sender: channel choice, consents, WeChat error paths, one send per event."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from chalicelib.notify import consumer, sender
from chalicelib.notify.events import DomainEvent
from chalicelib.store import notify_repo
from chalicelib.wechat import clients
from tests.support.api import Api, dumps, member_headers

TEMPLATE = "tmpl_points_expiring"


@pytest.fixture
def wechat(fake_wechat: str) -> str:
    requests.post(f"{fake_wechat}/_reset", timeout=5).raise_for_status()
    clients.reset_clients()
    return fake_wechat


def _sent(url: str, channel: str) -> list[dict[str, Any]]:
    return [s for s in requests.get(f"{url}/_sent", timeout=5).json() if s["channel"] == channel]


def _expiring(member_id: str, event_id: str = "remind:x:2026-12-31:7") -> DomainEvent:
    data = {"points": 120, "expires_on": "2026-12-31", "days_left": 7}
    return DomainEvent(event_id, "points.expiring", member_id, "2026-11-24T02:00:00Z", data)


def _consent(api: Api, token: str, key: str, results: dict[str, str]) -> Any:
    headers = member_headers(token, **{"Idempotency-Key": key})
    return api.http.post("/v1/me/subscriptions", body=dumps({"results": results}), headers=headers)


def test_consented_member_gets_one_subscribe_message_and_the_consent_is_used(api: Api, wechat: str) -> None:
    token, member_id = api.login("sendy")
    assert _consent(api, token, "c1", {TEMPLATE: "accept"}).json_body["consents"] == {TEMPLATE: 1}

    sender.deliver(_expiring(member_id))
    sender.deliver(_expiring(member_id))  # SQS redelivery

    sent = _sent(wechat, "mini_subscribe")
    assert len(sent) == 1
    body = sent[0]["body"]
    assert body["touser"] == "o_sendy" and body["template_id"] == TEMPLATE
    assert body["data"]["number1"] == {"value": "120"} and body["lang"] == "zh_CN"
    assert notify_repo.consents(member_id) == {TEMPLATE: 0}


def test_member_without_consent_or_follow_is_skipped(api: Api, wechat: str) -> None:
    _token, member_id = api.login("quiet")

    sender.deliver(_expiring(member_id))

    assert _sent(wechat, "mini_subscribe") == []
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
    token, member_id = api.login("refuser")
    _consent(api, token, "c1", {TEMPLATE: "accept"})
    requests.post(f"{wechat}/_fail", json={"path": "/cgi-bin/message/subscribe/send", "errcode": 43101}, timeout=5)

    sender.deliver(_expiring(member_id))

    assert notify_repo.consents(member_id) == {TEMPLATE: 0}
    assert notify_repo.get_delivery("remind:x:2026-12-31:7#member")["status"] == "skipped"  # type: ignore[index]


def test_rate_limited_send_is_retried_later_with_the_consent_given_back(api: Api, wechat: str) -> None:
    token, member_id = api.login("busy")
    _consent(api, token, "c1", {TEMPLATE: "accept"})
    requests.post(f"{wechat}/_fail", json={"path": "/cgi-bin/message/subscribe/send", "errcode": 45009}, timeout=5)

    with pytest.raises(consumer.RetryLater):
        sender.deliver(_expiring(member_id))
    assert notify_repo.consents(member_id) == {TEMPLATE: 1}

    sender.deliver(_expiring(member_id))  # the redelivery sends
    assert len(_sent(wechat, "mini_subscribe")) == 1
    assert notify_repo.consents(member_id) == {TEMPLATE: 0}


def test_invalid_token_is_refreshed_once_and_the_message_sent(api: Api, wechat: str) -> None:
    token, member_id = api.login("stale")
    _consent(api, token, "c1", {TEMPLATE: "accept"})
    sender.deliver(_expiring(member_id, "warm-up"))  # caches a token
    _consent(api, token, "c2", {TEMPLATE: "accept"})
    requests.post(f"{wechat}/_invalidate_tokens", timeout=5)

    sender.deliver(_expiring(member_id))

    assert len(_sent(wechat, "mini_subscribe")) == 2


def test_other_wechat_error_dead_letters_with_the_reason(api: Api, wechat: str) -> None:
    token, member_id = api.login("broken")
    _consent(api, token, "c1", {TEMPLATE: "accept"})
    requests.post(f"{wechat}/_fail", json={"path": "/cgi-bin/message/subscribe/send", "errcode": 40037}, timeout=5)

    with pytest.raises(consumer.PermanentFailure, match="errcode 40037"):
        sender.deliver(_expiring(member_id))
    assert notify_repo.get_delivery("remind:x:2026-12-31:7#member")["status"] == "failed"  # type: ignore[index]


def test_concurrent_redeliveries_send_once_and_never_overdraw_consents(api: Api, wechat: str) -> None:
    token, member_id = api.login("racer")
    _consent(api, token, "c1", {TEMPLATE: "accept"})
    _consent(api, token, "c2", {TEMPLATE: "accept"})

    events = [_expiring(member_id, f"e{n % 3}") for n in range(12)]  # 3 distinct events, 4 copies each
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(sender.deliver, events))

    assert len(_sent(wechat, "mini_subscribe")) == 2  # two consents: two sends, the third skipped
    assert notify_repo.consents(member_id) == {TEMPLATE: 0}
