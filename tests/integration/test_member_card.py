"""The WeChat member card (会员卡) as a projection of our ledger: activation with our member
number, syncs with absolute values + deltas, retries, unlinking, the nightly check, admin routes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from chalicelib import clock
from chalicelib.domain.wallet import EntryKind, WalletChange
from chalicelib.jobs import member_card as job
from chalicelib.settings import get_settings
from chalicelib.store import member_card_repo, members_repo, wallet_repo
from chalicelib.store.tx import UnitOfWork
from tests.support.api import Api, dumps, operator_headers
from tests.support.wechat import XML_HEADERS, mp_event, mp_safe
from tests.support.worker import drain, run_worker

UPDATE = "/card/membercard/updateuser"
ACTIVATE = "/card/membercard/activate"


class Fake:
    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, path: str, body: dict[str, Any]) -> None:
        requests.post(self.url + path, json=body, timeout=5).raise_for_status()

    def card(self, code: str) -> dict[str, Any]:
        cards: dict[str, Any] = requests.get(self.url + "/_cards", timeout=5).json()["cards"]
        return dict(cards.get(code) or {})

    def calls(self, path: str, code: str) -> list[dict[str, Any]]:
        found = requests.get(self.url + "/_calls", timeout=5).json()
        return [c["body"] for c in found if c["path"] == path and (c.get("body") or {}).get("code") == code]


@pytest.fixture
def fake(api: Api, fake_wechat: str) -> Fake:
    return Fake(fake_wechat)


def _event(api: Api, name: str, event: str, code: str, **extra: str) -> None:
    path, body = mp_safe(mp_event(f"mp_{name}", event, CardId="p_card", UserCardCode=code, **extra))
    response = api.http.post(path, body=body, headers=XML_HEADERS)
    assert response.status_code == 200, response.body


def _card_holder(api: Api, name: str) -> tuple[str, str, str]:
    token, member_id = api.login(name)
    code = f"C-{name}"
    _event(api, name, "user_get_card", code, UnionId=f"u_{name}")
    run_worker()
    return token, member_id, code


def _top_up(member_id: str, principal: int, bonus: int = 0) -> None:
    tx = UnitOfWork(get_settings().region)
    change = WalletChange(EntryKind.TOPUP, f"topup:t-{principal}", principal=principal, bonus=bonus)
    wallet_repo.stage_change(tx, wallet_repo.get_wallet(member_id), change, clock.iso(clock.utc_now()))
    tx.commit()


def test_a_card_taken_is_activated_with_our_member_number_and_opening_values(api: Api, fake: Fake) -> None:
    _, member_id, code = _card_holder(api, "cara")
    member = members_repo.get_member(member_id)
    card = fake.card(code)
    assert member.member_code and card["membership_number"] == member.member_code
    assert (card["bonus"], card["balance"], card["custom_field_value1"]) == (0, 0, "普通会员")
    state = member_card_repo.get(member_id)
    assert state is not None and str(state.status) == "active" and str(state.outcome) == "activated"


def test_an_earn_a_redeem_and_a_wallet_credit_each_push_absolute_values_and_the_delta(api: Api, fake: Fake) -> None:
    token, member_id, code = _card_holder(api, "earl")
    assert api.adjust(member_id, 300, "a-1").status_code in (200, 201)
    run_worker()
    assert api.redeem(token, 120, "r-1").status_code in (200, 201)
    run_worker()
    _top_up(member_id, 50_000, 5_000)
    run_worker()

    pushed = [(c["bonus"], c["add_bonus"], c["balance"], c["add_balance"]) for c in fake.calls(UPDATE, code)]
    assert pushed == [(300, 300, 0, 0), (180, -120, 0, 0), (180, 0, 55_000, 55_000)]
    texts = [(c.get("record_bonus"), c.get("record_balance")) for c in fake.calls(UPDATE, code)]
    assert texts == [("积分增加300", None), ("积分减少120", None), (None, "储值增加550.00元")]
    assert (fake.card(code)["bonus"], fake.card(code)["balance"]) == (180, 55_000)


def test_a_tier_change_pushes_the_new_tier_name(api: Api, fake: Fake) -> None:
    _, member_id, code = _card_holder(api, "tia")
    api.order("TIA-1", {"member_id": member_id}, 310_000)  # growth 3100 ≥ 3000: 银卡
    run_worker()
    assert fake.card(code)["custom_field_value1"] == "银卡"


def test_a_redelivered_sync_task_makes_no_second_wechat_call(api: Api, fake: Fake) -> None:
    _, member_id, code = _card_holder(api, "reda")
    api.adjust(member_id, 40, "a-1")
    bodies = [body for body in drain() if body["kind"] == "task.card_sync"]
    assert len(bodies) == 1
    from chalicelib.notify import consumer

    for _ in range(3):
        consumer.handle_record(dumps(bodies[0]).decode())
    assert len(fake.calls(UPDATE, code)) == 1


def test_wechat_busy_then_the_retry_pushes_once_the_values_it_reads(api: Api, fake: Fake) -> None:
    _, member_id, code = _card_holder(api, "busy")
    fake.post("/_fail", {"path": UPDATE, "times": 1, "errcode": -1})
    api.adjust(member_id, 70, "a-1")
    bodies = [body for body in drain() if body["kind"] == "task.card_sync"]
    from chalicelib.domain.tasks import RetryLater
    from chalicelib.notify import consumer

    with pytest.raises(RetryLater):
        consumer.handle_record(dumps(bodies[0]).decode())
    state = member_card_repo.get(member_id)
    assert state is not None and str(state.outcome) == "retrying" and state.pushed is not None
    assert state.pushed.bonus == 0, "nothing recorded as pushed"
    consumer.handle_record(dumps(bodies[0]).decode())
    assert fake.card(code)["bonus"] == 70 and len(fake.calls(UPDATE, code)) == 2


def test_an_invalid_code_is_dead_lettered_and_recorded_rejected(api: Api, fake: Fake) -> None:
    _, member_id, code = _card_holder(api, "gone")
    fake.post("/_cards", {"code": code, "status": "DELETE"})
    api.adjust(member_id, 5, "a-1")
    run_worker()
    state = member_card_repo.get(member_id)
    assert state is not None and str(state.outcome) == "rejected" and "40056" in (state.error or "")


def test_an_unlinked_card_is_no_longer_synced(api: Api, fake: Fake) -> None:
    _, member_id, code = _card_holder(api, "una")
    _event(api, "una", "user_del_card", code)
    api.adjust(member_id, 30, "a-1")
    handled = run_worker()
    assert "task.card_sync" not in handled and fake.calls(UPDATE, code) == []


def test_a_replayed_card_event_activates_once(api: Api, fake: Fake) -> None:
    _, member_id, code = _card_holder(api, "twice")
    _event(api, "twice", "submit_membercard_user_info", code)
    run_worker()
    assert len(fake.calls(ACTIVATE, code)) == 1


def test_the_nightly_job_corrects_a_card_that_drifted_and_counts_the_rest(api: Api, fake: Fake) -> None:
    _, drifting, drift_code = _card_holder(api, "drift")
    _, steady, _ = _card_holder(api, "steady")
    api.adjust(drifting, 90, "a-1")
    api.adjust(steady, 10, "a-2")
    run_worker()
    fake.post("/_cards", {"code": drift_code, "bonus": 3, "balance": 1})

    counts = job.run(clock.utc_now() + timedelta(days=1))

    assert counts == {"checked": 2, "matched": 1, "corrected": 1, "failed": 0}
    assert (fake.card(drift_code)["bonus"], fake.card(drift_code)["balance"]) == (90, 0)
    assert job.run(clock.utc_now() + timedelta(days=3))["checked"] == 0, "only cards changed yesterday or today"


def test_admin_reads_a_card_and_forces_a_sync(api: Api, fake: Fake) -> None:
    _, member_id, code = _card_holder(api, "adm")
    shown = api.http.get(f"/admin/members/{member_id}/card", headers=operator_headers("erin"))
    assert shown.status_code == 200 and shown.json_body["status"] == "active"
    assert shown.json_body["pushed"] == {"bonus": 0, "balance_fen": 0, "level": "普通会员"}

    assert api.http.post(f"/admin/members/{member_id}/card/sync", headers=operator_headers("erin")).status_code == 403
    forced = api.http.post(f"/admin/members/{member_id}/card/sync", headers=operator_headers("alice"))
    assert forced.status_code == 200 and forced.json_body["outcome"] == "pushed"
    assert len(fake.calls(UPDATE, code)) == 1, "forced even though nothing changed"


def test_admin_card_of_an_unknown_member_is_404(api: Api, fake: Fake) -> None:
    for path in ("/admin/members/m_nobody/card",):
        assert api.http.get(path, headers=operator_headers()).status_code == 404
    assert api.http.post("/admin/members/m_nobody/card/sync", headers=operator_headers()).status_code == 404


def test_admin_sets_the_activation_form_and_bad_input_names_the_field(api: Api, fake: Fake) -> None:
    form = {"card_id": "p_card", "required_form": {"common_field_id_list": ["USER_FORM_INFO_FLAG_MOBILE"]}}
    headers = {**operator_headers("alice"), "Content-Type": "application/json"}
    done = api.http.put("/admin/member-card/activate-form", body=dumps(form), headers=headers)
    assert done.status_code == 200 and done.json_body == {"card_id": "p_card", "fields": ["required_form"]}
    sent = requests.get(fake.url + "/_cards", timeout=5).json()["forms"]["p_card"]
    assert sent["required_form"]["common_field_id_list"] == ["USER_FORM_INFO_FLAG_MOBILE"]

    bad = {"card_id": "p_card", "required_form": {"common_field_id_list": ["USER_FORM_INFO_FLAG_SHOE_SIZE"]}}
    refused = api.http.put("/admin/member-card/activate-form", body=dumps(bad), headers=headers)
    assert refused.status_code == 400
    assert refused.json_body["error"]["fields"][0]["field"].startswith("required_form.common_field_id_list")
    no_card = api.http.put("/admin/member-card/activate-form", body=dumps({}), headers=headers)
    assert no_card.status_code == 400 and no_card.json_body["error"]["fields"][0]["field"] == "card_id"
