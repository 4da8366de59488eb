"""The local worker does what Lambda's SQS event source and EventBridge do: partial batch
failures redeliver only the failed record, maxReceiveCount moves it to the DLQ, schedules
fire the jobs declared in app.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.events import DomainEvent
from chalicelib.domain.tasks import RetryLater
from chalicelib.notify import consumer, events, queues
from chalicelib.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
SEEN: Counter[str] = Counter()
FAIL_TIMES: dict[str, int] = {}


def deliver(event: DomainEvent) -> None:
    """Stands in for the notification sender: fails an event the number of times asked."""
    SEEN[event.event_id] += 1
    if SEEN[event.event_id] <= FAIL_TIMES.get(event.event_id, 0):
        raise RetryLater(f"{event.event_id} not yet")


@pytest.fixture
def worker(tables: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    import app
    from local.worker import Worker

    SEEN.clear()
    FAIL_TIMES.clear()
    monkeypatch.setattr(consumer, "SENDER", f"{__name__}:deliver")
    return Worker(app, retry_after=0)


def _publish(*ids: str) -> None:
    events.publish([DomainEvent(i, "points.earned", "m_1", "2026-11-30T00:00:00Z", {"points": 1}) for i in ids])


def _messages(queue_name: str) -> list[dict[str, Any]]:
    client, url = events.sqs_client(), events.queue_url(queue_name)
    found = []
    while batch := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    ):
        found.extend(batch)
        for message in batch:
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_failed_record_is_redelivered_alone_and_the_rest_of_its_batch_is_not(worker: Any) -> None:
    _publish("ok-1", "flaky", "ok-2")
    FAIL_TIMES["flaky"] = 2

    worker.drain()

    assert SEEN == {"ok-1": 1, "ok-2": 1, "flaky": 3}
    assert worker.stats["failed"] == 2 and worker.stats["succeeded"] == 3
    assert _messages(get_settings().events_queue_name) == []
    assert _messages(get_settings().events_dlq_name) == []


def test_record_that_keeps_failing_lands_in_the_dlq_after_max_receive_count(worker: Any) -> None:
    _publish("doomed", "fine")
    FAIL_TIMES["doomed"] = 1000

    worker.drain()

    assert SEEN["doomed"] == queues.MAX_RECEIVE_COUNT and SEEN["fine"] == 1
    dead = _messages(get_settings().events_dlq_name)
    assert [json.loads(m["Body"])["event_id"] for m in dead] == ["doomed"]
    assert _messages(get_settings().events_queue_name) == []


def test_records_carry_the_receive_count_lambda_reports(worker: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    counts: list[int] = []
    real = consumer.handle_record

    def spy(body: str, receive_count: int = 1) -> None:
        counts.append(receive_count)
        real(body, receive_count)

    monkeypatch.setattr(consumer, "handle_record", spy)
    _publish("twice")
    FAIL_TIMES["twice"] = 1

    worker.drain()

    assert counts == [1, 2]


def test_schedule_fires_the_job_declared_in_app_in_its_utc_minute(worker: Any) -> None:
    from chalicelib.store import jobs_repo

    quiet = worker.tick(datetime(2026, 11, 30, 16, 4, tzinfo=UTC))
    fired = worker.tick(datetime(2026, 11, 30, 16, 5, 30, tzinfo=UTC))

    assert "expire-points" not in quiet
    assert "expire-points" in fired and worker.stats["fired:expire-points"] == 1
    assert jobs_repo.get_state("expire-points").done_through is not None  # the job ran (for today)


def test_schedule_fires_on_demand_over_http_and_an_unknown_one_is_404(worker: Any) -> None:
    import requests

    from local.processes import free_port
    from local.worker import _serve_status

    port = free_port()
    server = _serve_status(worker, port)
    try:
        fired = requests.post(f"http://127.0.0.1:{port}/_fire/campaigns", timeout=30)
        unknown = requests.post(f"http://127.0.0.1:{port}/_fire/nope", timeout=30)
    finally:
        server.shutdown()
        server.server_close()

    assert fired.status_code == 200
    assert fired.json() == {"job": "campaigns", "campaigns": 0, "queued": 0, "batch_calls": 0}
    assert unknown.status_code == 404 and worker.stats["fired:campaigns"] == 1


def test_worker_once_drains_the_queue_from_the_command_line(tables: None) -> None:
    # An unknown task kind is dead-lettered by the consumer with its reason: the record is done.
    events.publish([DomainEvent("t1", "task.nothing", None, "2026-11-30T00:00:00Z", {})])

    result = subprocess.run(
        [sys.executable, "-m", "local.worker", "--once"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["succeeded"] == 1
    assert _messages(get_settings().events_queue_name) == []
    [dead] = _messages(get_settings().events_dlq_name)
    assert json.loads(dead["Body"])["event_id"] == "t1"


def test_infra_queues_json_is_current_and_reports_batch_item_failures() -> None:
    from chalicelib.cli import WORKER_EVENT_SOURCE, WORKER_FUNCTION, queues_template

    committed = json.loads((ROOT / "infra" / "queues.json").read_text())
    source = committed["Resources"][WORKER_FUNCTION]["Properties"]["Events"][WORKER_EVENT_SOURCE]["Properties"]

    assert committed == queues_template(), "infra/queues.json is stale: run `make infra`"
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Queue"] == {"Fn::Sub": "${EventsQueue.Arn}"}


def test_cli_dlq_commands_call_list_and_redrive(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import types

    from chalicelib import notify
    from chalicelib.cli import main

    calls: list[tuple[str, int | None]] = []

    def list_dead_letters(limit: int) -> list[dict[str, Any]]:
        calls.append(("list", limit))
        return [{"body": "{}", "reason": "x"}]

    def redrive(limit: int | None) -> int:
        calls.append(("redrive", limit))
        return 3

    fake = types.ModuleType("chalicelib.notify.dlq")
    fake.list_dead_letters = list_dead_letters  # type: ignore[attr-defined]
    fake.redrive = redrive  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "chalicelib.notify.dlq", fake)
    monkeypatch.setattr(notify, "dlq", fake, raising=False)

    assert main(["dlq", "list"]) == 0
    assert main(["dlq", "redrive", "--limit", "5"]) == 0
    assert main(["dlq", "redrive"]) == 0

    assert calls == [("list", 10), ("redrive", 5), ("redrive", None)]
    out = capsys.readouterr().out
    assert '"reason": "x"' in out and "3 message(s) moved back" in out
