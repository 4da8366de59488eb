"""What a coupon claim (领券) costs: DynamoDB requests and transaction items per claim through
the API as the mini-program calls it, per replay and per sold-out answer; what the member's
list and QR cost; and what one template can take in a flash sale, by the partition limit.

Per claim: the token's member check and the member (GetItem ×2), the template (GetItem, eventually consistent), its shards
(one BatchGetItem) and one TransactWriteItems of the coupon, its code, one shard and the
member's count (+ the day's count with a daily limit). Constant, whatever the stock or the
number of claims before."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.domain import coupon_stock
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row
from tests.support.api import Api, dumps, member_headers, operator_headers

pytestmark = pytest.mark.bench

MEMBERS = 20
FLASH_CLAIMS, FLASH_SECONDS = 10_000, 10


def _template(api: Api, key: str, **changes: Any) -> str:
    body = {
        "name": "满200减30",
        "benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 3000},
        "validity": {"kind": "days_after_claim", "days": 7},
        "stock": 10_000,
        "per_member_limit": 5,
        **changes,
    }
    headers = {**operator_headers(), "Idempotency-Key": key}
    response = api.http.post("/admin/coupon-templates", body=dumps(body), headers=headers)
    assert response.status_code == 201, response.body
    return str(response.json_body["template_id"])


def _claim(api: Api, token: str, template_id: str, key: str, status: int = 201) -> dict[str, Any]:
    headers = member_headers(token, **{"Idempotency-Key": key})
    response = api.http.post(f"/v1/coupons/{template_id}/claims", body=b"", headers=headers)
    assert response.status_code == status, response.body
    return dict(response.json_body)


def _per(tally: Tally, calls: int) -> tuple[float, float]:
    return tally.total_requests / calls, tally.items_written / calls


def test_bench_claim_costs_and_flash_sale_shards(api: Api) -> None:
    plain = _template(api, "plain")
    daily = _template(api, "daily", per_member_daily_limit=2)
    last = _template(api, "last", stock=1)
    tokens = [api.login(f"bench{n}")[0] for n in range(MEMBERS)]
    with count_dynamodb() as claims:
        codes = [_claim(api, token, plain, "k1")["code"] for token in tokens]
    with count_dynamodb() as daily_claims:
        for token in tokens:
            _claim(api, token, daily, "k2")
    with count_dynamodb() as replays:
        for token in tokens:
            _claim(api, token, plain, "k1")
    _claim(api, tokens[0], last, "k3")
    with count_dynamodb() as sold_out:
        for token in tokens[1:]:
            _claim(api, token, last, "k3", status=409)
    with count_dynamodb() as lists:
        for token in tokens:
            assert api.http.get("/v1/me/coupons", headers=member_headers(token)).status_code == 200
    with count_dynamodb() as qrs:
        for token, code in zip(tokens, codes, strict=True):
            assert api.http.get(f"/v1/me/coupons/{code}/qr", headers=member_headers(token)).status_code == 200

    requests, items = _per(claims, MEMBERS)
    row("coupon claim: DynamoDB requests (auth, member, template, shards, transaction)", requests, "5",
        requests == 5 and claims.requests["Scan"] == 0, requests_seen=claims.as_dict())  # fmt: skip
    row("coupon claim: transaction items (coupon, code, shard, member count)", items, "4", items == 4)
    requests, items = _per(daily_claims, MEMBERS)
    row("coupon claim with a daily limit: transaction items (+ the day's count)", items, "5", items == 5,
        requests=requests)  # fmt: skip
    requests, items = _per(replays, MEMBERS)
    row("coupon claim replayed (same Idempotency-Key): requests, items", f"{requests:.0f} / {items:.0f}", "≤ 6 / 4",
        requests <= 6, requests_seen=replays.as_dict())  # fmt: skip
    requests, items = _per(sold_out, MEMBERS - 1)
    row("coupon claim sold out (已抢光): requests (+ the replay check), items written", f"{requests:.0f} / {items:.0f}",
        "≤ 5 / 0", requests <= 5 and items == 0, requests_seen=sold_out.as_dict())  # fmt: skip
    requests, _ = _per(lists, MEMBERS)
    row("my coupons: requests (auth, member, one Query of my partition)", requests, "3", requests == 3)
    requests, _ = _per(qrs, MEMBERS)
    row("coupon QR payload: requests (auth, member, code, coupon)", requests, "4", requests == 4)

    needed = coupon_stock.shards_for(FLASH_CLAIMS, FLASH_SECONDS)
    default = coupon_stock.shard_count(FLASH_CLAIMS)
    row(f"flash sale {FLASH_CLAIMS:,} claims in {FLASH_SECONDS} s: shards needed (1,000 WU/s a partition, "
        "2 WU a transactional write, ×2 headroom)", needed, f"≤ {default} (default for that stock)",
        needed <= default, raw_shards=coupon_stock.shards_for(FLASH_CLAIMS, FLASH_SECONDS, headroom=1))  # fmt: skip
    per_shard = FLASH_CLAIMS / FLASH_SECONDS * coupon_stock.TRANSACTION_WRITE_UNITS / default
    row(f"that sale on {default} shards: write units a second per shard", per_shard, "≤ 500 (half the limit)",
        per_shard <= 500)  # fmt: skip
    by_writes = coupon_stock.MAX_SHARDS * coupon_stock.PARTITION_WRITES_PER_SECOND // 2
    by_reads = 3000 * 2  # the template item and each shard are read per claim: 0.5 RCU eventually consistent
    row("one template's claims a second, 32 shards (writes / reads of the template and shards)",
        f"{by_writes:,} / {by_reads:,}", "≥ 1,000", min(by_writes, by_reads) >= 1000)  # fmt: skip
