"""What stored value (储值) costs: DynamoDB requests and transaction items per top-up (POST
/v1/wallet/topups, through the fake WeChat Pay), per payment notification, per resent copy, per
wallet read and per top-up the settle job settles. The target: constants, whatever the
member's history (the wallet item and a page of its ledger are read, never the whole ledger)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib import clock
from chalicelib.jobs import topups as settle_job
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row
from tests.support.api import Api
from tests.support.wallet import FakePay, paid_topup, topup, wallet

pytestmark = pytest.mark.bench
pytest_plugins = ["tests.support.wechatpay"]  # the fake WeChat Pay's fixtures: pay, pay_server

MEMBERS = 5
HISTORY = 10  # top-ups each member made before the measured one


def _per(tally: Tally, calls: int) -> tuple[float, float]:
    return tally.total_requests / calls, tally.items_written / calls


def test_bench_top_up_notify_wallet_read_and_settle_costs(api: Api, pay: FakePay) -> None:
    tokens = [api.login(f"bench{m}")[0] for m in range(MEMBERS)]
    for n in range(HISTORY):
        for token in tokens:
            paid_topup(api, pay, token, 1_000, key=f"h-{n}")

    with count_dynamodb() as created:
        ids = [topup(api, token, 50_000, key="m-1").json_body["topup_id"] for token in tokens]
    bodies = []
    for topup_id in ids:
        pay.state.pay(topup_id, notify=False)
        resource = {k: v for k, v in pay.state.orders[topup_id].items() if not k.startswith("_")}
        bodies.append(pay.notification("TRANSACTION.SUCCESS", resource)[0])
    with count_dynamodb() as notified:
        assert all(pay.post(body).status_code == 204 for body in bodies)
    with count_dynamodb() as resent:
        assert all(pay.post(body).status_code == 204 for body in bodies)
    with count_dynamodb() as read:
        for token in tokens:
            wallet(api, token, "?limit=20")
    lost = [topup(api, token, 1_000, key="l-1").json_body["topup_id"] for token in tokens]
    for topup_id in lost:
        pay.state.pay(topup_id, notify=False)
    with count_dynamodb() as settled:
        counts = settle_job.run(clock.utc_now() + timedelta(minutes=6))
    assert counts == {"topup_credited": MEMBERS}

    requests, items = _per(created, MEMBERS)
    row("top-up: DynamoDB requests (account check, replay read, member, wallet, tx, prepay id)",
        requests, "≤ 8", requests <= 8, requests_seen=created.as_dict())  # fmt: skip
    row("top-up: transaction items (wallet's pending, top-up) + the prepay id update", items, "3", items == 3)
    requests, items = _per(notified, MEMBERS)
    # 4, and since issue 16 the member card check (a wallet change reads no member: store/member_card_repo.py)
    row("pay notify: DynamoDB requests (envelope, top-up, wallet, card, tx)", requests, "≤ 5", requests <= 5,
        requests_seen=notified.as_dict())  # fmt: skip
    row("pay notify: items written (envelope + wallet, 2 ledger lines, top-up, outbox)", items, "6", items == 6)
    requests, items = _per(resent, MEMBERS)
    row("pay notify, a resent copy: requests (envelope put refused, counted; top-up)", requests, "≤ 3",
        requests <= 3 and items <= 2, requests_seen=resent.as_dict())  # fmt: skip
    requests, _ = _per(read, MEMBERS)
    row(f"GET /v1/wallet after {HISTORY + 1} top-ups: requests (account, member, wallet, a ledger page, the day's top-ups)", requests, "≤ 6",
        requests <= 6 and read.requests["Scan"] == 0, requests_seen=read.as_dict())  # fmt: skip
    requests, items = _per(settled, MEMBERS)
    # 6, and since issue 16 the member card check and the held checkouts' and gifts' index queries
    row("settle job, per lost notification: DynamoDB requests (+ its index queries)", requests, "≤ 9",
        requests <= 9 and settled.requests["Scan"] == 0, requests_seen=settled.as_dict())  # fmt: skip
