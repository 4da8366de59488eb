"""The member card under races and faults: whatever interleaves, the card ends on our truth."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from chalicelib import clock
from chalicelib.domain.errors import Busy
from chalicelib.domain.member_card import CardStatus
from chalicelib.services import member_card, points
from chalicelib.store import member_card_repo, members_repo
from chalicelib.wechat.member_card import CardTransient
from tests.support.api import Api
from tests.support.faults import Injector, client_error, inject
from tests.support.race import race, retrying
from tests.support.wechat import XML_HEADERS, mp_event, mp_safe
from tests.support.worker import drain, run_worker


def _card(url: str, code: str) -> dict[str, Any]:
    return dict(requests.get(url + "/_cards", timeout=5).json()["cards"][code])


def _holder(api: Api, name: str) -> tuple[str, str]:
    _, member_id = api.login(name)
    path, body = mp_safe(
        mp_event(f"mp_{name}", "user_get_card", CardId="p_card", UserCardCode=f"R-{name}", UnionId=f"u_{name}")
    )
    assert api.http.post(path, body=body, headers=XML_HEADERS).status_code == 200
    run_worker()
    return member_id, f"R-{name}"


def _earn(member_id: str, n: int) -> None:
    op = points.operation(f"test:earn:{member_id}:{n}", {"n": n}, clock.utc_now())
    retrying(lambda: points.earn(member_id, 10 + n, op))


def test_concurrent_syncs_with_changes_between_them_leave_the_card_on_our_final_truth(
    api: Api, fake_wechat: str
) -> None:
    member_id, code = _holder(api, "racer")
    calls = [lambda n=n: _earn(member_id, n) for n in range(4)] + [
        lambda: retrying(lambda: member_card.sync(member_id, clock.utc_now())) for _ in range(4)
    ]
    outcomes = race(calls)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    run_worker()

    balance = members_repo.get_member(member_id).balance
    assert balance == sum(10 + n for n in range(4))
    assert _card(fake_wechat, code)["bonus"] == balance
    state = member_card_repo.get(member_id)
    assert state is not None and state.pushed is not None and state.pushed.bonus == balance


def test_wechat_down_mid_sync_records_nothing_pushed_and_the_retry_converges(api: Api, fake_wechat: str) -> None:
    member_id, code = _holder(api, "down")
    _earn(member_id, 0)
    drain()  # the sync task is lost: we drive the sync by hand
    requests.post(fake_wechat + "/_fail", json={"path": "/card/membercard/updateuser", "times": 2, "status": 503})
    for _ in range(2):
        with pytest.raises(CardTransient):
            member_card.sync(member_id, clock.utc_now())
    state = member_card_repo.get(member_id)
    assert state is not None and state.pushed is not None and state.pushed.bonus == 0
    member_card.sync(member_id, clock.utc_now())
    assert _card(fake_wechat, code)["bonus"] == 10


def test_dynamodb_failing_on_the_record_after_wechat_accepted_repushes_the_same_absolute_values(
    api: Api, fake_wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    member_id, code = _holder(api, "lost")
    _earn(member_id, 5)
    drain()
    rule = Injector("TransactWriteItems", lambda _: client_error("InternalServerError", "TransactWriteItems"), 1)
    with inject(monkeypatch, rule):
        outcome = member_card.sync(member_id, clock.utc_now())
    assert rule.injected == 1 and str(outcome) == "pushed"
    card = _card(fake_wechat, code)
    assert (card["bonus"], card["updates"]) == (15, 2), "pushed again after the failed record: the same value"
    state = member_card_repo.get(member_id)
    assert state is not None and state.status == CardStatus.ACTIVE and state.pushed is not None
    assert state.pushed.bonus == 15
    assert str(member_card.sync(member_id, clock.utc_now())) == "unchanged"
    assert _card(fake_wechat, code)["updates"] == 2, "nothing differs: no call"


def test_dynamodb_down_for_every_record_gives_up_busy_with_the_card_on_the_truth(
    api: Api, fake_wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    member_id, code = _holder(api, "outage")
    _earn(member_id, 2)
    drain()
    rule = Injector("TransactWriteItems", lambda _: client_error("InternalServerError", "TransactWriteItems"), None)
    with inject(monkeypatch, rule), pytest.raises(Busy):
        member_card.sync(member_id, clock.utc_now())
    assert _card(fake_wechat, code)["bonus"] == 12
    state = member_card_repo.get(member_id)
    assert state is not None and state.pushed is not None and state.pushed.bonus == 0, "the redelivery will record"


def test_a_replayed_points_request_stages_no_second_sync(api: Api, fake_wechat: str) -> None:
    member_id, _ = _holder(api, "replay")
    for _ in range(3):
        _earn(member_id, 1)
    syncs = [body for body in drain() if body["kind"] == "task.card_sync"]
    assert len(syncs) == 1
