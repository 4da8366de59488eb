"""Expiring-coupon reminders (优惠券到期提醒): N days before a coupon's last valid day, once per
coupon, whatever re-runs; never for a used coupon (even when the index lags) nor for one whose
end has passed; O(due) through the sparse, sharded `due` index."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from chalicelib.clock import local_date, utc_now
from chalicelib.domain.coupon_use import ReturnPolicy
from chalicelib.domain.coupons import Coupon
from chalicelib.domain.members import Member
from chalicelib.jobs import coupon_reminders
from chalicelib.jobs.runner import run_job
from chalicelib.notify import events
from chalicelib.services import coupon_redemption, coupon_templates, coupons
from chalicelib.settings import get_settings
from chalicelib.store import coupons_repo, jobs_repo, members_repo
from chalicelib.store.models import CouponModel, JobStateModel
from tests.support.api import Api, dumps, member_headers
from tests.support.notify import drain_into_worker, reset_fake_wechat, sent_messages
from tests.support.worker import relay

JOB = coupon_reminders.NAME
TEMPLATE = "tmpl_coupon_expiring"


def today() -> date:
    return local_date(utc_now(), get_settings().timezone)


def coupon(member_id: str, days: int, key: str = "g1", create_member: bool = True) -> Coupon:
    """A coupon granted now, valid `days` days (the claim day is day 1): it ends today + days - 1."""
    if create_member:
        members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:{member_id}"])
    data = {
        "name": f"{days}天券",
        "benefit": {"kind": "no_threshold", "amount_off_fen": 500},
        "validity": {"kind": "days_after_claim", "days": days},
        "stock": 100,
    }
    template = coupon_templates.create("alice", data, None, f"t{days}", utc_now()).template
    return coupons.grant(template.template_id, member_id, key, utc_now(), source="test")


def queued() -> list[dict[str, Any]]:
    relay()
    client, url = events.sqs_client(), events.queue_url(get_settings().events_queue_name)
    found: list[dict[str, Any]] = []
    while batch := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            found.append(json.loads(message["Body"]))
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def reminders() -> list[dict[str, Any]]:
    return [event for event in queued() if event["kind"] == "coupon.expiring"]


def at_ten(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=utc_now().tzinfo) + timedelta(hours=2)  # 10:00 Shanghai


def test_a_coupon_ending_in_three_days_is_reminded_once_however_often_the_job_runs(tables: None) -> None:
    held = coupon("m_ann", days=4)  # ends today + 3
    ends_on = (today() + timedelta(days=3)).isoformat()
    queued()

    run_job(JOB, utc_now())
    first = reminders()
    run_job(JOB, utc_now() + timedelta(hours=1))  # the same day again
    assert reminders() == []
    JobStateModel(JOB).delete()  # a re-run from scratch (state lost) re-sends the same event ids
    run_job(JOB, utc_now())
    again = reminders()

    assert [e["event_id"] for e in first] == [f"coupon-expiring:{held.coupon_id}:{ends_on}:3"]
    assert first[0]["member_id"] == "m_ann"
    assert first[0]["data"] == {"coupon_id": held.coupon_id, "title": "4天券", "ends_on": ends_on, "days_left": 3}
    assert [e["event_id"] for e in again] == [e["event_id"] for e in first]


def test_the_member_gets_one_message_for_a_reminder_sent_twice(api: Api, fake_wechat: str) -> None:
    wechat = reset_fake_wechat(fake_wechat)
    token, member_id = api.login("reminded")
    headers = member_headers(token, **{"Idempotency-Key": "s1"})
    consent = api.http.post("/v1/me/subscriptions", body=dumps({"results": {TEMPLATE: "accept"}}), headers=headers)
    assert consent.status_code == 200, consent.body
    coupon(member_id, days=4, create_member=False)

    run_job(JOB, utc_now())
    relay()
    drain_into_worker()
    JobStateModel(JOB).delete()
    run_job(JOB, utc_now())
    relay()
    drain_into_worker()

    sent = [s for s in sent_messages(wechat, "mini_subscribe") if s["body"]["template_id"] == TEMPLATE]
    assert len(sent) == 1
    assert sent[0]["body"]["data"]["thing1"] == {"value": "4天券"}
    assert sent[0]["body"]["data"]["date2"] == {"value": (today() + timedelta(days=3)).isoformat()}


def test_used_coupons_and_other_end_days_are_not_reminded_even_when_the_index_lags(tables: None) -> None:
    due = coupon("m_due", days=4)
    used = coupon("m_used", days=4)
    lagging = coupon("m_lag", days=4)
    coupon("m_later", days=5)
    now = utc_now()
    coupon_redemption.redeem_in_store(used.code, "S1", "zhangsan", None, now)
    coupon_redemption.redeem_in_store(lagging.code, "S1", "zhangsan", None, now)
    # The index has not caught up with the use yet: the coupon still carries its `due`.
    CouponModel(lagging.member_id, lagging.coupon_id).update(
        actions=[CouponModel.due.set(coupons_repo.due_key(lagging, get_settings().timezone))]
    )
    queued()

    run_job(JOB, now)

    assert [e["data"]["coupon_id"] for e in reminders()] == [due.coupon_id]


def test_a_returned_coupon_is_reminded_and_one_returned_past_its_end_is_not(tables: None) -> None:
    back = coupon("m_back", days=4)  # both end today + 3
    late = coupon("m_late", days=4)
    now = utc_now()
    for number, held in enumerate((back, late)):
        coupon_redemption.redeem_at_pos(held.code, "S1", f"O-{number}", "pos-1", now)
    coupon_redemption.return_for_order(back.member_id, back.coupon_id, "O-0", now, ReturnPolicy.WHILE_VALID)
    after_end = at_ten(today() + timedelta(days=4))
    coupon_redemption.return_for_order(late.member_id, late.coupon_id, "O-1", after_end, ReturnPolicy.ALWAYS)
    queued()

    run_job(JOB, now)

    assert [e["data"]["coupon_id"] for e in reminders()] == [back.coupon_id]
    stored = CouponModel.get(late.member_id, late.coupon_id, consistent_read=True)
    assert (stored.status, stored.due) == ("returned", None)


def test_a_day_caught_up_after_the_coupons_end_reminds_nothing_and_a_late_one_says_the_days_left(
    tables: None,
) -> None:
    gone = coupon("m_gone", days=4)  # ends today + 3
    soon = coupon("m_soon", days=6)  # ends today + 5
    jobs_repo.finish_day(JOB, today() - timedelta(days=1))
    queued()

    run_job(JOB, at_ten(today() + timedelta(days=4)))  # catches up today .. today + 4

    found = {e["data"]["coupon_id"]: e["data"]["days_left"] for e in reminders()}
    assert gone.coupon_id not in found  # its reminder day came when it had already ended
    assert found == {soon.coupon_id: 1}  # the 3-day reminder, read on the day it ends in 1


def test_reminder_days_come_from_settings(tables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUPON_REMINDER_DAYS", "7,3")
    get_settings.cache_clear()
    try:
        week = coupon("m_week", days=8)  # ends today + 7
        queued()
        run_job(JOB, utc_now())
        seven = reminders()
        run_job(JOB, at_ten(today() + timedelta(days=4)))
        three = reminders()
    finally:
        get_settings.cache_clear()

    ends_on = (today() + timedelta(days=7)).isoformat()
    assert [e["event_id"] for e in seven] == [f"coupon-expiring:{week.coupon_id}:{ends_on}:7"]
    assert [e["event_id"] for e in three] == [f"coupon-expiring:{week.coupon_id}:{ends_on}:3"]


def test_every_due_shard_is_read_and_each_coupon_reminded_once(tables: None) -> None:
    held = [coupon(f"m_shard{n:02d}", days=4) for n in range(40)]
    queued()

    counts = run_job(JOB, utc_now())

    shards = {coupons_repo.due_key(c, get_settings().timezone).split("#")[1] for c in held}
    assert len(shards) > 8  # spread over the shards
    assert sorted(e["data"]["coupon_id"] for e in reminders()) == sorted(c.coupon_id for c in held)
    assert counts["events"] == 40 and counts["days"] == 1
