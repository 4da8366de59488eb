"""Issue 5's end-to-end case: a campaign of 1,000 members on the local stack `make run` starts.

The API takes the campaign, the worker fires the campaigns schedule through the function
EventBridge would call, drains the queue through the SQS handler, and the fake WeChat API
receives the messages. Every process is the one `make run` starts, with demo data loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.clock import utc_now
from local.demo import load_demo
from local.run import Stack

# Outside the default suite (about 3 minutes): moto's SQS answers each ReceiveMessage in time
# proportional to the queue's depth, and this queue starts 1,000 deep. Run it with
# `pytest -m soak tests/e2e/test_campaign_local_stack.py`.
pytestmark = pytest.mark.soak
ROOT = Path(__file__).resolve().parents[2]
AUDIENCE, TAG = 1000, "e2e1k"
TEMPLATE_ID = "mp_member_day"  # campaign.member_day's official-account template


@pytest.fixture
def stack(tmp_path: Path, bare_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in bare_env.items():
        monkeypatch.setenv(name, value)
    running = Stack(tmp_path, check=True)
    try:
        running.start()
        load_demo(running.url("api"), running.secrets_file, running.operators_file)
        yield running
    finally:
        running.stop()


def _operator(stack: Stack) -> dict[str, str]:
    key = json.loads(stack.operators_file.read_text(encoding="utf-8"))["alice"]["key"]
    return {"X-Operator-Id": "alice", "X-Operator-Key": key, "Content-Type": "application/json"}


def _wait_until_done(stack: Stack, campaign_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        counts: dict[str, Any] = requests.get(
            f"{stack.url('api')}/admin/campaigns/{campaign_id}", headers=_operator(stack), timeout=10
        ).json()
        if counts["status"] == "done" or time.monotonic() > deadline:
            return counts
        time.sleep(1)


def test_campaign_of_1000_members_reaches_each_follower_once_with_exact_counts(stack: Stack) -> None:
    # Given 1,000 tagged members, of whom every tenth neither follows nor uses the mini-program
    subprocess.run(
        [sys.executable, "-m", "local.demo", "members", str(AUDIENCE), "--tag", TAG],
        env=stack.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    body = {
        "name": "会员日",
        "template": "campaign.member_day",
        "audience": {"tags": [TAG]},
        "send_at": (utc_now() - timedelta(minutes=1)).isoformat(),
    }
    created = requests.post(
        f"{stack.url('api')}/admin/campaigns",
        data=json.dumps(body),
        headers={**_operator(stack), "Idempotency-Key": "e2e-member-day"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["campaign_id"]

    # When the worker fires the campaigns schedule and drains the queue
    fired = requests.post(f"{stack.url('worker')}/_fire/campaigns", timeout=120).json()
    counts = _wait_until_done(stack, campaign_id, timeout=240)

    # Then each follower got one message, and every queued message is counted once
    assert fired["queued"] == AUDIENCE and fired["batch_calls"] == AUDIENCE // 10
    sent = [
        s
        for s in requests.get(f"{stack.url('wechat')}/_sent", timeout=10).json()
        if s["body"].get("template_id") == TEMPLATE_ID
    ]
    followers = {f"mp_{TAG}_{n}" for n in range(AUDIENCE) if n % 10}
    assert sorted(s["body"]["touser"] for s in sent) == sorted(followers)
    assert counts["status"] == "done", counts
    assert (counts["queued"], counts["sent"], counts["skipped"], counts["failed"]) == (AUDIENCE, 900, 100, 0)
    status = requests.get(f"{stack.url('worker')}/_status", timeout=10).json()["stats"]
    assert status.get("failed", 0) == 0  # no batch item failed (its rate(5 minutes) tick may fire it too)
