"""The transactional outbox: events are written with their cause and reach the queue through
the outbox table's stream, even when SQS was down at commit time; a relay batch that fails
half-way comes again without a member getting a message twice."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain.events import DomainEvent
from chalicelib.notify import events
from chalicelib.settings import get_settings
from chalicelib.store import outbox_repo
from chalicelib.store.models import MemberModel, OutboxModel
from chalicelib.store.tx import MAX_ACTIONS, TransactionFailed, TransactionTooLarge, UnitOfWork
from tests.support.api import Api
from tests.support.worker import drain, relay


def _queued() -> list[str]:
    url = events.queue_url(get_settings().events_queue_name)
    client, ids = events.sqs_client(), []
    while batch := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            ids.append(DomainEvent.from_json(message["Body"]).event_id)
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return ids


def test_an_order_with_sqs_down_at_commit_loses_no_event(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    _, member_id = api.login("outage")
    drain()
    client = events.sqs_client()
    real = client.send_message_batch

    def down(**_kwargs: Any) -> dict[str, Any]:
        raise ConnectionError("sqs down")

    monkeypatch.setattr(client, "send_message_batch", down)
    response = api.order("OB-1", {"member_id": member_id}, 10_000)
    assert response.status_code == 200, "the order does not wait for the queue"
    assert OutboxModel.get("order:OB-1#points.earned").kind == "points.earned"
    assert relay() == 0, "the relay reports the batch failed and keeps its place"
    assert relay() == 0

    monkeypatch.setattr(client, "send_message_batch", real)
    assert relay() >= 1
    assert _queued().count("order:OB-1#points.earned") == 1
    assert relay() == 0 and _queued() == [], "nothing is relayed twice once it went through"


def test_a_relay_batch_failing_half_way_comes_again_and_each_member_gets_one_message(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """11 events: the first SendMessageBatch (10) goes through, the second fails; Lambda retries
    from the failed record on, and the queue holds each event, the sender sends each once."""
    outbox_repo.write([DomainEvent(f"half:{n}", "points.earned", f"m_{n}", "2026-11-22T02:00:00Z") for n in range(11)])
    client = events.sqs_client()
    real, calls = client.send_message_batch, {"n": 0}

    def second_fails(**kwargs: Any) -> dict[str, Any]:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("sqs flaky")
        return dict(real(**kwargs))

    monkeypatch.setattr(client, "send_message_batch", second_fails)
    relay()
    monkeypatch.setattr(client, "send_message_batch", real)
    relay()
    queued = _queued()
    assert sorted(set(queued)) == sorted(f"half:{n}" for n in range(11))
    assert len(queued) == 11, "the retry started at the failed batch, not at the first record"


def test_a_cancelled_transaction_leaves_no_event_in_the_outbox(tables: None) -> None:
    uow = UnitOfWork(get_settings().region)
    uow.update(
        "member",
        MemberModel("m_absent"),
        actions=[MemberModel.balance.set(1)],
        condition=MemberModel.member_id.exists(),
    )
    uow.stage_event(DomainEvent("never:1", "points.earned", "m_absent", "2026-11-22T02:00:00Z"))
    with pytest.raises(TransactionFailed) as failure:
        uow.commit()
    assert failure.value.failed_tags() == ["member"]
    assert relay() == 0 and _queued() == []
    with pytest.raises(OutboxModel.DoesNotExist):
        OutboxModel.get("never:1")


def test_the_unit_of_work_enforces_dynamodbs_limits_before_sending(tables: None) -> None:
    uow = UnitOfWork(get_settings().region)
    uow.put("a", OutboxModel("same", kind="k", occurred_at="t"))
    with pytest.raises(TransactionTooLarge, match="same item"):
        uow.put("b", OutboxModel("same", kind="k", occurred_at="t"))
    with pytest.raises(TransactionTooLarge, match="tag"):
        uow.put("a", OutboxModel("other", kind="k", occurred_at="t"))
    big = UnitOfWork(get_settings().region)
    for n in range(MAX_ACTIONS):
        big.put(f"e{n}", OutboxModel(f"e{n}", kind="k", occurred_at="t"))
    with pytest.raises(TransactionTooLarge, match="100"):
        big.put("one-more", OutboxModel("one-more", kind="k", occurred_at="t"))
    huge = UnitOfWork(get_settings().region)
    for n in range(12):
        huge.put(f"h{n}", OutboxModel(f"h{n}", kind="k", occurred_at="t", data={"blob": "x" * 380_000}))
    with pytest.raises(TransactionTooLarge, match="bytes"):
        huge.commit()
    big.commit()  # exactly 100 actions: one transaction, as DynamoDB (and the embedded AWS) take
    assert OutboxModel.get("e99").kind == "k"
