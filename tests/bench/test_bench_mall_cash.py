"""What a points + cash gift (积分+现金) costs: DynamoDB requests and transaction items per
redemption (the points transaction as a points-only gift's, plus the order's prepay stored once),
per replayed redemption, per WeChat Pay notification that settles it, per resent copy, per
settle-job pass over unpaid gifts, and per cancel of a paid gift (points back, cash refunded).
The target: constants, whatever the member's history."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib import clock
from chalicelib.domain.mall_redemptions import trade_no
from chalicelib.jobs import topups as settle_job
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row
from tests.integration.test_mall import ADDRESS, member, redeem, seed
from tests.integration.test_mall_cash import cancel_mine, gift
from tests.support.api import Api
from tests.support.wallet import FakePay

pytestmark = pytest.mark.bench
pytest_plugins = ["tests.support.wechatpay"]

MEMBERS = 5
HISTORY = 10  # earnings each member has (lots are read, never the ledger)


def _per(tally: Tally, calls: int) -> tuple[float, float]:
    return tally.total_requests / calls, tally.items_written / calls


def test_bench_mall_points_and_cash(api: Api, pay: FakePay) -> None:
    reward_id = gift(api, item={"kind": "physical", "stock": 100, "max_quantity": 3})
    members = []
    for m in range(MEMBERS):
        token, member_id = member(api, f"cash{m}")
        for n in range(HISTORY):
            seed(member_id, 10 + n)
        members.append((token, member_id))

    with count_dynamodb() as redeemed:
        made = [redeem(api, token, reward_id, "k1", address=ADDRESS) for token, _ in members]
    assert all(response.status_code == 201 for response in made)
    ids = [response.json_body["redemption_id"] for response in made]
    with count_dynamodb() as replayed:
        assert all(redeem(api, token, reward_id, "k1", address=ADDRESS).status_code == 201 for token, _ in members)
    with count_dynamodb() as notified:
        for rid in ids:
            pay.pay(trade_no(rid))
    with count_dynamodb() as resent:
        for rid in ids:
            pay.state.notify_payment(trade_no(rid))
        pay.state.deliveries.wait()
    unpaid = [redeem(api, token, reward_id, "k2", address=ADDRESS) for token, _ in members]
    assert all(response.status_code == 201 for response in unpaid)
    with count_dynamodb() as swept:
        counts = settle_job.run(clock.utc_now() + timedelta(minutes=16))
    assert counts.get("mall_cancelled") == MEMBERS, counts
    with count_dynamodb() as cancelled:
        assert all(
            cancel_mine(api, token, rid).status_code == 200 for (token, _), rid in zip(members, ids, strict=True)
        )

    requests, items = _per(redeemed, MEMBERS)
    row("points + cash redemption: DynamoDB requests (points-only's + the prepay stored once)", requests, "≤ 14",
        requests <= 14 and redeemed.requests["Scan"] == 0, requests_seen=redeemed.as_dict())  # fmt: skip
    row("points + cash redemption: items written (member, entry, lots, reward, count, redemption, outbox; prepay)",
        items, "≤ 10", items <= 10)  # fmt: skip
    requests, items = _per(replayed, MEMBERS)
    row("points + cash redemption replayed: requests / items sent (refused by the entry's guard; no new order)",
        f"{requests:.0f} / {items:.0f}", "≤ 11 / ≤ 7", requests <= 11 and items <= 7,
        requests_seen=replayed.as_dict())  # fmt: skip
    requests, items = _per(notified, MEMBERS)
    row("pay notify settling a gift: DynamoDB requests (envelope, index, redemption, tx)", requests, "≤ 5",
        requests <= 5, requests_seen=notified.as_dict())  # fmt: skip
    row("pay notify settling a gift: items written (envelope, redemption, outbox)", items, "3", items == 3)
    requests, items = _per(resent, MEMBERS)
    row("pay notify, a resent copy: requests; items (its envelope only)", requests, "≤ 4", requests <= 4 and items == 1,
        requests_seen=resent.as_dict())  # fmt: skip
    requests, items = _per(swept, MEMBERS)
    row("settle job, per unpaid gift cancelled: DynamoDB requests (index shards, find, cancel tx)", requests,
        "≤ 14", requests <= 14 and swept.requests["Scan"] == 0, requests_seen=swept.as_dict())  # fmt: skip
    row("settle job, per unpaid gift cancelled: items written (member, entry, lots, redemption, reward, count, "
        "outbox)", items, "≤ 8", items <= 8)  # fmt: skip
    requests, items = _per(cancelled, MEMBERS)
    row("cancel of a paid gift (points back, cash refunded): DynamoDB requests", requests, "≤ 12", requests <= 12,
        requests_seen=cancelled.as_dict())  # fmt: skip
    # 8, and the refund task the cancel's transaction owes (services/pay_refund_task.py)
    row("cancel of a paid gift: items written (+ the refund task)", items, "≤ 9", items <= 9)
