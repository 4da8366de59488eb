"""Fan-out costs: SendMessageBatch calls per campaign audience, requests per delivered message."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from chalicelib.clock import iso
from chalicelib.domain.events import DomainEvent
from chalicelib.jobs import campaigns as campaigns_job
from chalicelib.notify import events, sender
from chalicelib.services import campaigns
from chalicelib.store.models import ConsentModel, MemberModel
from tests.bench.counting import count_dynamodb
from tests.bench.report import row
from tests.support.notify import drain_into_worker, reset_fake_wechat

pytestmark = pytest.mark.bench
NOW = datetime(2026, 12, 15, 2, 0, tzinfo=UTC)
DELIVERED = 200  # recipients delivered for real through the queue, the handler and the fake WeChat


def _members(count: int, tier: str) -> None:
    with MemberModel.batch_write() as batch:
        for n in range(count):
            item = MemberModel(f"m_{tier}_{n:06d}", created_at="2026-01-01T00:00:00Z", tier_code=tier)
            item.mp_openid, item.mp_followed = f"mp_{tier}_{n}", True
            item.mini_openid = f"o_{tier}_{n}"  # no consent for the campaign: the template message goes
            batch.save(item)


def _campaign(tier: str) -> str:
    request = {"name": tier, "template": "campaign.member_day", "audience": {"tiers": [tier]}, "send_at": iso(NOW)}
    return campaigns.create("alice", request, f"bench-{tier}", NOW).campaign_id


def _fan_out(tier: str, expected: int) -> None:
    campaign_id = _campaign(tier)
    started, totals = time.monotonic(), Counter[str]()
    with count_dynamodb() as tally:
        while not totals["runs"] or campaigns.get(campaign_id).status == "sending":
            totals.update(campaigns_job.run(NOW))  # a run stops at its time budget; the next one resumes
            totals["runs"] += 1
    seconds = round(time.monotonic() - started, 1)
    calls, target = totals["batch_calls"], expected // 10
    ok = totals["queued"] == expected and calls <= target
    row(f"campaign {expected:,} recipients: SendMessageBatch calls", calls, f"<= {target}", ok, seconds=seconds)
    # Per 100 recipients: one BatchGetItem, one checkpoint, one status read; one Query per 1000.
    budget = 3 * expected // 100 + expected // 1000 + 10
    row(
        f"campaign {expected:,} recipients: DynamoDB requests to queue",
        tally.total_requests,
        f"<= {budget}",
        tally.total_requests <= budget,
        requests=dict(tally.requests),
    )


def _accept_batch(QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 (boto3's names)
    return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


def test_campaign_fan_out_costs(tables: None, fake_wechat: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _members(10_000, "silver")
    _members(1_000, "gold")
    # moto's SendMessageBatch slows down with the queue's depth (~0.8 s per call at 10k queued):
    # the calls are counted here, not queued, so the bench measures our requests, not moto.
    monkeypatch.setattr(events.sqs_client(), "send_message_batch", _accept_batch)
    _fan_out("gold", 1_000)
    _fan_out("silver", 10_000)


def test_campaign_delivery_costs_per_message(tables: None, fake_wechat: str) -> None:
    reset_fake_wechat(fake_wechat)
    _members(DELIVERED, "black")
    campaign_id = _campaign("black")
    campaigns_job.run(NOW)
    wechat_before = len(requests.get(f"{fake_wechat}/_calls", timeout=5).json())

    started = time.monotonic()
    with count_dynamodb() as tally:
        assert drain_into_worker() == []
    seconds = round(time.monotonic() - started, 1)

    counts = campaigns.get(campaign_id).counts
    wechat_calls = len(requests.get(f"{fake_wechat}/_calls", timeout=5).json()) - wechat_before
    per_message = round(tally.total_requests / DELIVERED, 2)
    assert counts["sent"] == DELIVERED
    row(
        f"campaign delivery ({DELIVERED} via SQS handler): DynamoDB requests per message",
        per_message,
        "<= 5.05",  # 5 per message, plus one access_token fetch in the run
        per_message <= 5.05,
        requests=dict(tally.requests),
        seconds=seconds,
    )
    row(
        "campaign delivery: WeChat calls per message (token fetch included)",
        round(wechat_calls / DELIVERED, 3),
        "<= 1.01",
        wechat_calls <= DELIVERED * 1.01,
    )


def _requests(event: DomainEvent) -> tuple[int, dict[str, int]]:
    with count_dynamodb() as tally:
        sender.deliver(event)
    return tally.total_requests, dict(tally.requests)


def test_single_delivery_costs(tables: None, fake_wechat: str) -> None:
    _members(10, "normal")
    campaign_id = _campaign("normal")
    expiring = {"points": 10, "expires_on": "2026-12-31"}
    ConsentModel("m_normal_000009", "tmpl_points_expiring", remaining=1).save()
    for warm_up in ("m_normal_000008", "m_normal_000009"):  # access tokens cached, as in a warm Lambda
        sender.deliver(DomainEvent(f"warm-{warm_up}", "points.expiring", warm_up, iso(NOW), expiring))
    mp_event = DomainEvent("bench-e1", "points.expiring", "m_normal_000001", iso(NOW), expiring)
    measured, detail = _requests(mp_event)
    row("deliver one template message: DynamoDB requests", measured, "<= 4", measured <= 4, requests=detail)
    measured, detail = _requests(mp_event)
    row("redelivered event: DynamoDB requests", measured, "<= 3", measured <= 3, requests=detail)

    ConsentModel("m_normal_000002", "tmpl_points_expiring", remaining=1).save()
    mini_event = DomainEvent("bench-e2", "points.expiring", "m_normal_000002", iso(NOW), expiring)
    measured, detail = _requests(mini_event)
    row("deliver one subscribe message: DynamoDB requests", measured, "<= 4", measured <= 4, requests=detail)

    data = {"campaign_id": campaign_id, "template": "campaign.member_day", "part": 0}
    campaign_event = DomainEvent(
        f"campaign:{campaign_id}:m_normal_000003", "campaign.message", "m_normal_000003", iso(NOW), data
    )
    measured, detail = _requests(campaign_event)
    row("deliver one campaign message (counted): DynamoDB requests", measured, "<= 5", measured <= 5, requests=detail)
    measured, detail = _requests(campaign_event)
    row("redelivered campaign message: DynamoDB requests", measured, "<= 3", measured <= 3, requests=detail)
