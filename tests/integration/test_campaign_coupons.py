"""A campaign that carries a coupon (营销推送 + 发券): each recipient messaged is granted one,
once, before the message; a template that cannot give is counted and the message still goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.domain import keys
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.tasks import RetryLater
from chalicelib.jobs import campaigns as campaigns_job
from chalicelib.notify import campaign_sender
from chalicelib.services import coupon_templates, coupons
from chalicelib.store import campaigns_repo, coupons_repo, notify_repo
from chalicelib.store.models import MemberModel
from tests.support.api import Api, dumps, operator_headers
from tests.support.notify import drain_into_worker, fail_next, reset_fake_wechat, sent_messages

NOW = datetime(2026, 12, 15, 2, 0, tzinfo=UTC)  # member day, 10:00 in Shanghai
SHANGHAI = timezone(timedelta(hours=8))


@pytest.fixture
def wechat(fake_wechat: str) -> str:
    return reset_fake_wechat(fake_wechat)


def _template(key: str, **changes: Any) -> str:
    body = {
        "name": "会员日满100减20",
        "benefit": {"kind": "amount_off", "threshold_fen": 10000, "amount_off_fen": 2000},
        "validity": {"kind": "days_after_claim", "days": 30},
        "stock": 100,
        **changes,
    }
    now = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
    return coupon_templates.create("dana", body, None, key, now).template.template_id


def _members(count: int, tier: str = "silver", **fields: Any) -> list[str]:
    ids = [f"m_{tier}_{n:05d}" for n in range(count)]
    with MemberModel.batch_write() as batch:
        for n, member_id in enumerate(ids):
            item = MemberModel(member_id, created_at="2026-01-01T00:00:00Z", tier_code=tier)
            item.mp_openid, item.mp_followed = f"mp_{tier}{n}", True
            for name, value in fields.items():
                setattr(item, name, value)
            batch.save(item)
    return ids


def _create(api: Api, key: str, coupon_template_id: str | None, tiers: tuple[str, ...] = ("silver",)) -> Any:
    body: dict[str, Any] = {
        "name": "会员日",
        "template": "campaign.member_day",
        "audience": {"tiers": list(tiers)},
        "send_at": "2026-12-15T10:00:00+08:00",
    }
    if coupon_template_id is not None:
        body["coupon_template_id"] = coupon_template_id
    headers = {**operator_headers(), "Idempotency-Key": key}
    return api.http.post("/admin/campaigns", body=dumps(body), headers=headers)


def _show(api: Api, campaign_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.http.get(f"/admin/campaigns/{campaign_id}", headers=operator_headers()).json_body
    return body


def _held(member_id: str) -> list[tuple[str, str]]:
    return [(c.template_id, c.source) for c in coupons_repo.member_coupons(member_id)]


def _message(campaign_id: str, member_id: str) -> DomainEvent:
    """The event the job queued for the member: a redelivery is the same event again."""
    data = {"campaign_id": campaign_id, "template": "campaign.member_day", "name": "会员日", "channel": "any"}
    return DomainEvent(f"campaign:{campaign_id}:{member_id}", campaigns_job.KIND, member_id, "t", {**data, "part": 0})


def test_each_recipient_gets_one_coupon_whatever_re_runs_and_redeliveries(
    api: Api, wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    gift = _template("member-day", stock=1000)
    ids = _members(150)  # two pages
    created = _create(api, "md", gift)
    assert created.status_code == 201, created.json_body
    campaign_id = created.json_body["campaign_id"]
    assert created.json_body["coupon_template_id"] == gift
    original, calls = campaigns_repo.checkpoint, [0]

    def crash_on_second_page(*args: Any, **kwargs: Any) -> bool:
        calls[0] += 1
        if calls[0] == 2:
            raise RuntimeError("Lambda timed out")  # page 2 published, its checkpoint lost
        return original(*args, **kwargs)

    monkeypatch.setattr(campaigns_repo, "checkpoint", crash_on_second_page)
    with pytest.raises(RuntimeError):
        campaigns_job.run(NOW)
    monkeypatch.undo()
    assert campaigns_job.run(NOW)["queued"] == 50  # page 2 queued again
    # The first copy of one message meets a WeChat hiccup after its coupon was granted.
    fail_next(wechat, "/cgi-bin/message/template/send", errcode=-1)
    with pytest.raises(RetryLater):
        campaign_sender.deliver(_message(campaign_id, ids[0]))
    assert drain_into_worker() == []
    campaign_sender.deliver(_message(campaign_id, ids[1]))  # a late redelivery: nothing new

    assert all(_held(member_id) == [(gift, "grant:campaign")] for member_id in ids)
    assert sorted(s["body"]["touser"] for s in sent_messages(wechat)) == sorted(f"mp_silver{n}" for n in range(150))
    shown = _show(api, campaign_id)
    assert (shown["status"], shown["sent"], shown["coupons_granted"], shown["coupons_refused"]) == ("done", 150, 150, 0)
    coupon = coupons_repo.member_coupons(ids[0])[0]
    delivery = notify_repo.get_delivery(f"campaign:{campaign_id}:{ids[0]}#member")
    assert delivery is not None and delivery["detail"]["coupon_id"] == coupon.coupon_id


def test_unknown_coupon_template_is_refused_at_create_naming_the_field(api: Api, wechat: str) -> None:
    for key, template_id in (("ghost", "ct_0000000000000000"), ("long", "ct_" + "0" * 80), ("empty", "")):
        response = _create(api, key, template_id)

        assert response.status_code == 400, (template_id, response.json_body)
        assert response.json_body["error"]["fields"][0]["field"] == "coupon_template_id"
        assert campaigns_repo.get(keys.campaign_id("alice", key)) is None


def test_sold_out_template_still_sends_every_message_and_counts_the_refusals(api: Api, wechat: str) -> None:
    scarce = _template("scarce", stock=1)
    ids = _members(3)
    campaign_id = _create(api, "scarce", scarce).json_body["campaign_id"]

    campaigns_job.run(NOW)
    drain_into_worker()
    for member_id in ids:  # redelivered after the fact: refused again, counted once
        campaign_sender.deliver(_message(campaign_id, member_id))

    assert len(sent_messages(wechat)) == 3
    assert sorted(len(_held(member_id)) for member_id in ids) == [0, 0, 1]
    shown = _show(api, campaign_id)
    assert (shown["sent"], shown["coupons_granted"], shown["coupons_refused"]) == (3, 1, 2)
    assert shown["status"] == "done"


def test_a_member_at_the_templates_limit_is_refused_and_still_messaged(api: Api, wechat: str) -> None:
    gift = _template("limited", per_member_limit=1)
    (member_id,) = _members(1)
    coupons.claim(gift, member_id, "own-claim", NOW)  # the member claimed one before the campaign
    campaign_id = _create(api, "limited", gift).json_body["campaign_id"]

    campaigns_job.run(NOW)
    drain_into_worker()

    assert len(_held(member_id)) == 1 and len(sent_messages(wechat)) == 1
    shown = _show(api, campaign_id)
    assert (shown["sent"], shown["coupons_granted"], shown["coupons_refused"]) == (1, 0, 1)


def test_no_coupon_for_members_the_campaign_does_not_message(api: Api, wechat: str) -> None:
    gift = _template("quiet")
    (withdrawn,) = _members(1, "gold", marketing_consent=False)
    cancelled_member = _members(1, "silver")[0]
    campaign_id = _create(api, "quiet", gift, ("gold",)).json_body["campaign_id"]
    cancelled = _create(api, "called-off", gift).json_body["campaign_id"]

    campaigns_job.run(NOW)
    api.http.post(f"/admin/campaigns/{cancelled}/cancel", headers=operator_headers())
    drain_into_worker()

    assert _held(withdrawn) == [] and _held(cancelled_member) == []
    assert (_show(api, campaign_id)["skipped"], _show(api, campaign_id)["coupons_granted"]) == (1, 0)
    assert _show(api, cancelled)["coupons_granted"] == 0 and sent_messages(wechat) == []


def test_a_refusal_turned_grant_by_a_later_attempt_moves_its_count_once(api: Api, wechat: str) -> None:
    campaign_id = _create(api, "moved", None).json_body["campaign_id"]
    marker = f"campaign:{campaign_id}:m_x#coupon"
    refused = {"reason": "coupon_sold_out"}

    assert campaigns_repo.count_coupon(marker, "m_x", campaign_id, campaigns_repo.REFUSED, refused, "t")
    assert not campaigns_repo.count_coupon(marker, "m_x", campaign_id, campaigns_repo.REFUSED, refused, "t")
    assert campaigns_repo.count_coupon(marker, "m_x", campaign_id, campaigns_repo.GRANTED, {"coupon_id": "c"}, "t")
    assert not campaigns_repo.count_coupon(marker, "m_x", campaign_id, campaigns_repo.GRANTED, {}, "t")

    shown = _show(api, campaign_id)
    assert (shown["coupon_template_id"], shown["coupons_granted"], shown["coupons_refused"]) == (None, 1, 0)
