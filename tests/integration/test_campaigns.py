"""Campaigns: define through the API, queue the audience at send time, deliver, count exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.jobs import campaigns as campaigns_job
from chalicelib.notify import delivery, dlq
from chalicelib.store import campaigns_repo, notify_repo
from chalicelib.store.models import ConsentModel, MemberModel
from tests.support.api import Api, dumps, operator_headers
from tests.support.notify import drain_into_worker, fail_next, reset_fake_wechat, sent_messages

NOW = datetime(2026, 12, 15, 2, 0, tzinfo=UTC)  # member day, 10:00 in Shanghai


@pytest.fixture
def wechat(fake_wechat: str) -> str:
    return reset_fake_wechat(fake_wechat)


def _members(count: int, tier: str, *, followed: bool = True, tags: set[str] | None = None, start: int = 0) -> None:
    with MemberModel.batch_write() as batch:
        for n in range(start, start + count):
            item = MemberModel(f"m_{tier}_{n:05d}", created_at="2026-01-01T00:00:00Z", tier_code=tier)
            item.mp_openid = f"mp_{tier}{n}"
            item.mp_followed = followed
            item.tags = tags
            batch.save(item)


def _create(api: Api, key: str, audience: dict[str, Any], send_at: str = "2026-12-15T10:00:00+08:00") -> Any:
    body = dumps({"name": "会员日", "template": "campaign.member_day", "audience": audience, "send_at": send_at})
    return api.http.post("/admin/campaigns", body=body, headers={**operator_headers(), "Idempotency-Key": key})


def _counts(api: Api, campaign_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.http.get(f"/admin/campaigns/{campaign_id}", headers=operator_headers()).json_body
    return body


def test_campaign_reaches_each_recipient_once_with_exact_counts(api: Api, wechat: str) -> None:
    # 250 recipients: three pages. The 1,000-member case runs on the local stack (tests/e2e).
    _members(250, "silver")
    _members(30, "gold")  # not in the audience
    created = _create(api, "member-day-12", {"tiers": ["silver"]})
    assert created.status_code == 201, created.json_body
    campaign_id = created.json_body["campaign_id"]
    assert (created.json_body["status"], created.json_body["queued"]) == ("scheduled", 0)

    assert campaigns_job.run(datetime(2026, 12, 15, 1, 0, tzinfo=UTC))["queued"] == 0  # not yet time
    result = campaigns_job.run(NOW)
    assert result["queued"] == 250 and result["batch_calls"] == 25
    assert campaigns_job.run(NOW)["queued"] == 0  # the next tick queues nothing again
    assert _counts(api, campaign_id)["status"] == "queued"

    assert drain_into_worker() == []
    sent = [s for s in sent_messages(wechat) if s["channel"] == "mp_template"]
    assert sorted(s["body"]["touser"] for s in sent) == sorted(f"mp_silver{n}" for n in range(250))
    counts = _counts(api, campaign_id)
    assert (counts["status"], counts["queued"], counts["sent"], counts["skipped"]) == ("done", 250, 250, 0)


def test_audience_filters_and_unreachable_members_are_counted_as_skipped(api: Api, wechat: str) -> None:
    _members(5, "gold", tags={"vip"})
    _members(3, "gold", followed=False, tags={"vip"}, start=100)
    _members(4, "gold", start=200)
    campaign_id = _create(api, "vip", {"tiers": ["gold"], "tags": ["vip"]}).json_body["campaign_id"]

    campaigns_job.run(NOW)
    drain_into_worker()
    drain_into_worker()  # a redelivery round finds nothing new

    counts = _counts(api, campaign_id)
    assert (counts["queued"], counts["sent"], counts["skipped"]) == (8, 5, 3)


def test_retried_campaign_creation_is_one_campaign(api: Api, wechat: str) -> None:
    first = _create(api, "same", {"tiers": ["gold"]})
    again = _create(api, "same", {"tiers": ["gold"]})
    other = _create(api, "same", {"tiers": ["silver"]})

    assert first.json_body["campaign_id"] == again.json_body["campaign_id"]
    assert other.status_code == 409


@pytest.mark.parametrize(
    ("audience", "template", "field"),
    [
        ({"tiers": ["diamond"]}, "campaign.member_day", "audience.tiers"),
        ({}, "points.earned", "template"),
        ({"birthday_month": 13}, "campaign.member_day", "audience.birthday_month"),
    ],
)
def test_bad_campaign_is_rejected_naming_the_field(
    api: Api, wechat: str, audience: dict[str, Any], template: str, field: str
) -> None:
    body = dumps({"name": "x", "template": template, "audience": audience, "send_at": "2026-12-15T10:00:00+08:00"})
    response = api.http.post("/admin/campaigns", body=body, headers={**operator_headers(), "Idempotency-Key": "k"})

    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == field


def test_cancelled_campaign_is_not_sent(api: Api, wechat: str) -> None:
    _members(3, "normal")
    campaign_id = _create(api, "c", {}).json_body["campaign_id"]
    api.http.post(f"/admin/campaigns/{campaign_id}/cancel", headers=operator_headers())

    assert campaigns_job.run(NOW)["queued"] == 0
    assert api.http.get("/admin/campaigns/nope", headers=operator_headers()).status_code == 404


def test_cancel_during_fan_out_stops_queueing_and_skips_what_was_queued(
    api: Api, wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _members(250, "silver")
    campaign_id = _create(api, "cancel-mid", {"tiers": ["silver"]}).json_body["campaign_id"]
    original = campaigns_repo.checkpoint

    def cancel_after_first_page(*args: Any, **kwargs: Any) -> bool:
        saved = original(*args, **kwargs)
        api.http.post(f"/admin/campaigns/{campaign_id}/cancel", headers=operator_headers())
        return saved

    monkeypatch.setattr(campaigns_repo, "checkpoint", cancel_after_first_page)
    assert campaigns_job.run(NOW)["queued"] == 100  # one page, then the cancel stops it
    monkeypatch.undo()
    assert campaigns_job.run(NOW)["queued"] == 0
    drain_into_worker()

    counts = _counts(api, campaign_id)
    assert (counts["status"], counts["queued"], counts["sent"], counts["skipped"]) == ("cancelled", 100, 0, 100)
    assert sent_messages(wechat) == []


def test_job_crash_mid_audience_resumes_and_each_member_gets_one_message(
    api: Api, wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _members(250, "gold")
    campaign_id = _create(api, "crashy", {"tiers": ["gold"]}).json_body["campaign_id"]
    original, calls = campaigns_repo.checkpoint, [0]

    def crash_on_second_page(*args: Any, **kwargs: Any) -> bool:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("Lambda timed out")  # page 2 was published, its checkpoint not saved
        return original(*args, **kwargs)

    monkeypatch.setattr(campaigns_repo, "checkpoint", crash_on_second_page)
    with pytest.raises(RuntimeError):
        campaigns_job.run(NOW)
    monkeypatch.undo()
    assert campaigns_job.run(NOW)["queued"] == 150  # pages 2 and 3 (page 2 again)
    drain_into_worker()

    sent = [s["body"]["touser"] for s in sent_messages(wechat)]
    assert sorted(sent) == sorted(f"mp_gold{n}" for n in range(250))
    counts = _counts(api, campaign_id)
    assert (counts["status"], counts["queued"], counts["sent"]) == ("done", 250, 250)


def test_birthday_month_and_mini_channel_pick_the_audience_and_the_channel(api: Api, wechat: str) -> None:
    with MemberModel.batch_write() as batch:
        for n, (birthday, mini) in enumerate([("1990-12-03", True), ("1991-12-30", False), ("1990-11-03", True)]):
            item = MemberModel(f"m_b{n}", created_at="2026-01-01T00:00:00Z", tier_code="normal")
            item.birthday, item.birthday_md = birthday, birthday[5:]  # as members_repo writes them
            item.mini_openid = f"o_b{n}" if mini else None
            item.mp_openid, item.mp_followed = f"mp_b{n}", True
            batch.save(item)
    ConsentModel("m_b0", "tmpl_member_day", remaining=1).save()
    campaign_id = _create(api, "bday", {"birthday_month": 12, "channel": "mini"}).json_body["campaign_id"]

    assert campaigns_job.run(NOW)["queued"] == 1  # m_b1 has no mini-program openid, m_b2 is born in November
    drain_into_worker()

    assert [(s["channel"], s["body"]["touser"]) for s in sent_messages(wechat)] == [("mini_subscribe", "o_b0")]
    counts = _counts(api, campaign_id)
    assert (counts["queued"], counts["sent"]) == (1, 1)


def test_mp_channel_campaign_does_not_spend_mini_program_consents(api: Api, wechat: str) -> None:
    _members(1, "normal")
    MemberModel("m_normal_00000").update(actions=[MemberModel.mini_openid.set("o_n0")])
    ConsentModel("m_normal_00000", "tmpl_member_day", remaining=1).save()
    _create(api, "mp-only", {"channel": "mp"})

    campaigns_job.run(NOW)
    drain_into_worker()

    assert [s["channel"] for s in sent_messages(wechat)] == ["mp_template"]
    assert ConsentModel.get("m_normal_00000", "tmpl_member_day").remaining == 1


def test_member_whose_tier_changes_during_fan_out_gets_one_message_and_is_counted_once(
    api: Api, wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _members(5, "normal")
    campaign_id = _create(api, "upgrade-mid", {}).json_body["campaign_id"]  # every tier
    original = campaigns_repo.checkpoint

    def upgrade_after_the_normal_tier(*args: Any, **kwargs: Any) -> bool:
        # An order lands while the job pages: the member moves to a tier not paged yet.
        MemberModel("m_normal_00000").update(actions=[MemberModel.tier_code.set("gold")])
        return original(*args, **kwargs)

    monkeypatch.setattr(campaigns_repo, "checkpoint", upgrade_after_the_normal_tier)
    assert campaigns_job.run(NOW)["queued"] == 6  # found under "normal", then again under "gold"
    monkeypatch.undo()
    drain_into_worker()

    sent = [s["body"]["touser"] for s in sent_messages(wechat)]
    assert sorted(sent) == [f"mp_normal{n}" for n in range(5)]
    counts = _counts(api, campaign_id)
    assert (counts["status"], counts["queued"], counts["sent"]) == ("done", 5, 5)


def test_cancelling_a_campaign_that_is_done_changes_nothing(api: Api, wechat: str) -> None:
    _members(2, "silver")
    campaign_id = _create(api, "done", {"tiers": ["silver"]}).json_body["campaign_id"]
    campaigns_job.run(NOW)
    drain_into_worker()

    response = api.http.post(f"/admin/campaigns/{campaign_id}/cancel", headers=operator_headers())

    assert response.status_code == 200
    assert (response.json_body["status"], response.json_body["sent"]) == ("done", 2)


def test_merged_member_is_skipped_and_a_permanent_failure_is_counted_then_moved_by_redrive(
    api: Api, wechat: str
) -> None:
    _members(3, "silver")
    campaign_id = _create(api, "mixed", {"tiers": ["silver"]}).json_body["campaign_id"]
    campaigns_job.run(NOW)
    MemberModel("m_silver_00001").update(actions=[MemberModel.merged_into.set("m_silver_00000")])
    fail_next(wechat, "/cgi-bin/message/template/send", errcode=40037)

    assert drain_into_worker() == []  # a permanent failure is dead-lettered, not retried
    counts = _counts(api, campaign_id)
    assert (counts["queued"], counts["sent"], counts["failed"], counts["skipped"]) == (3, 1, 1, 1)
    assert counts["status"] == "done"

    assert dlq.redrive(None) == 1  # the template was fixed: the failed message goes again
    drain_into_worker()
    counts = _counts(api, campaign_id)
    assert (counts["queued"], counts["sent"], counts["failed"], counts["skipped"]) == (3, 2, 0, 1)
    assert len(sent_messages(wechat)) == 2


def test_stale_claim_of_a_campaign_message_is_counted_once_and_not_resent(
    api: Api, wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _members(1, "silver")
    campaign_id = _create(api, "stale", {"tiers": ["silver"]}).json_body["campaign_id"]
    campaigns_job.run(NOW)
    # The worker died after claiming the delivery, before it knew the outcome.
    notify_repo.claim_delivery(f"campaign:{campaign_id}:m_silver_00000#member", "m_silver_00000", "2020", delivery.KEEP)
    monkeypatch.setattr(delivery, "STALE_CLAIM", timedelta(0))

    drain_into_worker()
    drain_into_worker()

    counts = _counts(api, campaign_id)
    assert (counts["queued"], counts["sent"], counts["failed"], counts["status"]) == (1, 0, 1, "done")
    assert sent_messages(wechat) == []


def test_birthday_month_audience_reads_that_months_members_only(api: Api, wechat: str) -> None:
    from tests.bench.counting import count_dynamodb

    _members(300, "normal")  # no birthday: not even read
    with MemberModel.batch_write() as batch:
        for n, birthday in enumerate(["1990-12-01", "1985-12-31", "2000-02-29"]):
            item = MemberModel(f"m_bd{n}", created_at="2026-01-01T00:00:00Z", tier_code="gold")
            item.birthday, item.birthday_md = birthday, birthday[5:]
            item.mp_openid, item.mp_followed = f"mp_bd{n}", True
            batch.save(item)
    _create(api, "december", {"birthday_month": 12})

    with count_dynamodb() as tally:
        assert campaigns_job.run(NOW)["queued"] == 2

    assert tally.requests["Scan"] == 0  # due campaigns through the sparse `due` index, members through `birthday`
    assert (
        tally.items_read <= 2 + 2 + 2 + 1
    )  # the campaign (index key + item), two index keys, two members, a status read
    assert tally.requests["UpdateItem"] <= 4  # status twice, one checkpoint per page; empty days cost no write


def test_queued_and_cancelled_campaigns_leave_the_due_index_so_the_job_never_reads_them_again(
    api: Api, wechat: str
) -> None:
    from tests.bench.counting import count_dynamodb

    _members(3, "normal")
    _create(api, "done-1", {"tiers": ["normal"]})
    cancelled = _create(api, "cancel-1", {"tiers": ["gold"]}).json_body["campaign_id"]
    api.http.post(f"/admin/campaigns/{cancelled}/cancel", headers=operator_headers())
    assert campaigns_job.run(NOW)["campaigns"] == 1

    with count_dynamodb() as tally:
        assert campaigns_job.run(NOW + timedelta(minutes=5))["campaigns"] == 0

    assert (tally.total_requests, tally.items_read) == (1, 0), "one Query of the due index, which is empty"
