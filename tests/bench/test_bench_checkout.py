"""What checkout costs: DynamoDB requests and transaction items per quote and per confirm with a
coupon + points + wallet, per replayed confirm, per cancel, per WeChat Pay notification of a held
checkout, and per refund by lines. The target: constants, whatever the member's history (the
member, its lots, its wallet and its coupons are read, never its ledger)."""

from __future__ import annotations

import pytest

from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row
from tests.integration.test_checkout import CONFIRM, QUOTE, basket, earn, fund, post
from tests.integration.test_coupon_redemption import held, template
from tests.support.api import Api
from tests.support.wallet import FakePay, enable_wallet

pytestmark = pytest.mark.bench
pytest_plugins = ["tests.support.wechatpay"]

MEMBERS = 5
HISTORY = 10  # orders each member reported before


def _per(tally: Tally, calls: int) -> tuple[float, float]:
    return tally.total_requests / calls, tally.items_written / calls


def test_bench_checkout_quote_confirm_cancel_notify_refund(api: Api, pay: FakePay) -> None:
    enable_wallet()
    template_id = template(api, "bench")
    members = []
    for m in range(MEMBERS):
        _, member_id = api.login(f"bench{m}")
        for n in range(HISTORY):
            earn(api, member_id, 10_000, order_id=f"h-{m}-{n}")
        fund(member_id, 20_000, 2_000)
        code = held(api, f"bench{m}", template_id, key=f"c{m}")[1]["code"]
        members.append((member_id, code))

    asks = [basket(member_id, f"o-{m}", coupon_codes=[code], points=500, wallet_fen=5_000)
            for m, (member_id, code) in enumerate(members)]  # fmt: skip
    with count_dynamodb() as quoted:
        assert all(post(api, QUOTE, ask).status_code == 200 for ask in asks)
    with count_dynamodb() as confirmed:
        assert all(post(api, CONFIRM, ask).status_code == 201 for ask in asks)
    with count_dynamodb() as replayed:
        assert all(post(api, CONFIRM, ask).status_code == 201 for ask in asks)
    with count_dynamodb() as refunded:
        for m in range(MEMBERS):
            response = api.refund(f"o-{m}", {"refund_id": "r1", "lines": [{"line_id": "l1", "amount_fen": 20_000}]})
            assert response.status_code == 200, response.body
    holds = [basket(member_id, f"w-{m}", points=100, pay_with="wechat_pay") for m, (member_id, _) in enumerate(members)]
    for ask in holds:
        assert post(api, CONFIRM, ask).status_code == 201
    trades = [no for no in pay.state.orders if no.startswith("wc")]
    with count_dynamodb() as notified:
        for no in trades:
            pay.pay(no)
    cancels = [basket(member_id, f"x-{m}", points=100) for m, (member_id, _) in enumerate(members)]
    for ask in cancels:
        assert post(api, CONFIRM, ask).status_code == 201
    with count_dynamodb() as cancelled:
        assert all(post(api, f"/v1/checkout/x-{m}/cancel", {}).status_code == 200 for m in range(MEMBERS))

    requests, _ = _per(quoted, MEMBERS)
    row("checkout quote: DynamoDB requests (member, programme, wallet, coupon by code)", requests, "≤ 6",
        requests <= 6 and quoted.items_written == 0 and quoted.requests["Scan"] == 0,
        requests_seen=quoted.as_dict())  # fmt: skip
    requests, items = _per(confirmed, MEMBERS)
    row("checkout confirm, coupon + points + wallet: DynamoDB requests", requests, "≤ 14",
        requests <= 14 and confirmed.requests["Scan"] == 0, requests_seen=confirmed.as_dict())  # fmt: skip
    row("checkout confirm: transaction items (member, entry, lot, coupon, its event, wallet, its line, checkout)",
        items, "8", items == 8)  # fmt: skip
    requests, items = _per(replayed, MEMBERS)
    row("checkout confirm replayed: requests, nothing written", requests, "≤ 2", requests <= 2 and items == 0,
        requests_seen=replayed.as_dict())  # fmt: skip
    requests, items = _per(refunded, MEMBERS)
    row("refund of a checked-out line: DynamoDB requests", requests, "≤ 16", requests <= 16,
        requests_seen=refunded.as_dict())  # fmt: skip
    row("refund of a checked-out line: transaction items (member, entry, lot, wallet, its line, checkout)",
        items, "≤ 8", items <= 8)  # fmt: skip
    requests, items = _per(notified, MEMBERS)
    row("pay notify of a held checkout: DynamoDB requests (envelope, index, checkout, tx)", requests, "≤ 5",
        requests <= 5, requests_seen=notified.as_dict())  # fmt: skip
    row("pay notify of a held checkout: items written (envelope, checkout, outbox)", items, "3", items == 3)
    requests, items = _per(cancelled, MEMBERS)
    row("checkout cancel: DynamoDB requests", requests, "≤ 10", requests <= 10, requests_seen=cancelled.as_dict())
    row("checkout cancel: transaction items (member, entry, lot, checkout)", items, "≤ 5", items <= 5)
