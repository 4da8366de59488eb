"""What a points mall redemption (积分兑换) costs, through the API as the mini-program calls it:
DynamoDB requests and transaction items per redemption of each kind, per replay and per
sold-out answer; what the mall's listing, a member's list and a cancel cost.

Per physical gift: the token's member check, the reward (GetItem, consistent: its stock and
version), the member and their count (GetItem ×2, so refusals come before the points), then
the points engine's member and lots (GetItem, Query) and ONE TransactWriteItems: the member,
the lot(s) taken, the ledger entry, its event, the reward's units, the member's count and the
redemption. A coupon adds the template, its shards and the member's coupon count (reads) and
the coupon, its code, a shard and the count (items); a partner code adds the pool's sample
(a Query) and the code claimed. Constant, whatever the stock or the redemptions before."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import clock
from chalicelib.services import points
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row
from tests.support.api import Api, dumps, member_headers, operator_headers

pytestmark = pytest.mark.bench

MEMBERS = 10
ADDRESS = {"name": "张三", "phone": "13812345678", "region": "广东省 深圳市 南山区", "detail": "科技园路1号"}


def _reward(api: Api, key: str, item: dict[str, Any], **changes: Any) -> str:
    body = {"name": "保温杯", "item": item, "points": 10, **changes}
    headers = {**operator_headers(), "Idempotency-Key": key}
    response = api.http.post("/admin/mall/rewards", body=dumps(body), headers=headers)
    assert response.status_code == 201, response.body
    return str(response.json_body["reward_id"])


def _redeem(api: Api, token: str, reward_id: str, key: str, status: int = 201, **extra: Any) -> dict[str, Any]:
    headers = member_headers(token, **{"Idempotency-Key": key})
    response = api.http.post("/v1/mall/redemptions", body=dumps({"reward_id": reward_id, **extra}), headers=headers)
    assert response.status_code == status, response.body
    return dict(response.json_body)


def _per(tally: Tally, calls: int) -> tuple[float, float]:
    return tally.total_requests / calls, tally.items_written / calls


def _members(api: Api) -> list[str]:
    tokens = []
    for n in range(MEMBERS):
        token, member_id = api.login(f"mall{n}")
        points.earn(member_id, 1000, points.operation(f"seed:{member_id}", {"seed": 1000}, clock.utc_now()))
        tokens.append(token)
    return tokens


def _coupon_template(api: Api) -> str:
    body = {"name": "满100减10", "benefit": {"kind": "amount_off", "threshold_fen": 10000, "amount_off_fen": 1000},
            "validity": {"kind": "days_after_claim", "days": 30}, "stock": 1000, "per_member_limit": 5}  # fmt: skip
    headers = {**operator_headers(), "Idempotency-Key": "bench-template"}
    return str(api.http.post("/admin/coupon-templates", body=dumps(body), headers=headers).json_body["template_id"])


def test_bench_mall_redemption_costs(api: Api) -> None:
    tokens = _members(api)
    gift = _reward(api, "gift", {"kind": "physical", "stock": 1000})
    coupon = _reward(api, "coupon", {"kind": "coupon", "coupon_template_id": _coupon_template(api), "stock": 1000})
    codes = _reward(api, "codes", {"kind": "partner_code", "partner": "视频会员"})
    upload = dumps({"codes": [f"BENCH-{n:04d}" for n in range(MEMBERS)]})
    assert (
        api.http.post(f"/admin/mall/rewards/{codes}/codes", body=upload, headers=operator_headers()).status_code == 200
    )
    last = _reward(api, "last", {"kind": "physical", "stock": 1})
    with count_dynamodb() as gifts:
        made = [_redeem(api, token, gift, "g1", address=ADDRESS)["redemption_id"] for token in tokens]
    with count_dynamodb() as coupons:
        for token in tokens:
            _redeem(api, token, coupon, "c1")
    with count_dynamodb() as partner:
        for token in tokens:
            _redeem(api, token, codes, "p1")
    with count_dynamodb() as replays:
        for token in tokens:
            _redeem(api, token, gift, "g1", address=ADDRESS)
    stock = api.http.get(f"/admin/mall/rewards/{gift}", headers=operator_headers()).json_body["stock"]
    assert stock["redeemed"] == MEMBERS  # the replays wrote nothing
    _redeem(api, tokens[0], last, "l1", address=ADDRESS)
    with count_dynamodb() as sold_out:
        for token in tokens[1:]:
            _redeem(api, token, last, "l1", status=409, address=ADDRESS)
    with count_dynamodb() as listings:
        for token in tokens:
            assert api.http.get("/v1/mall/rewards", headers=member_headers(token)).status_code == 200
    with count_dynamodb() as mine:
        for token in tokens:
            assert api.http.get("/v1/me/mall/redemptions", headers=member_headers(token)).status_code == 200
    with count_dynamodb() as cancels:
        for token, rid in zip(tokens, made, strict=True):
            path = f"/v1/me/mall/redemptions/{rid}/cancel"
            assert api.http.post(path, body=b"", headers=member_headers(token)).status_code == 200

    requests, items = _per(gifts, MEMBERS)
    row("mall redemption, physical gift: DynamoDB requests (auth, reward, member, count, engine's member and lots, "
        "transaction)", requests, "7", requests == 7 and gifts.requests["Scan"] == 0,
        requests_seen=gifts.as_dict())  # fmt: skip
    row("mall redemption, physical gift: transaction items (member, lot, entry, event, reward, count, redemption)",
        items, "7", items == 7)  # fmt: skip
    requests, items = _per(coupons, MEMBERS)
    row("mall redemption, coupon: requests (+ template, shards, coupon count) / items (+ coupon, code, shard, count)",
        f"{requests:.0f} / {items:.0f}", "10 / 11", (requests, items) == (10, 11),
        requests_seen=coupons.as_dict())  # fmt: skip
    requests, items = _per(partner, MEMBERS)
    row("mall redemption, partner code: requests (+ the pool's sample) / items (+ the code claimed)",
        f"{requests:.0f} / {items:.0f}", "8 / 8", (requests, items) == (8, 8),
        requests_seen=partner.as_dict())  # fmt: skip
    requests, items = _per(replays, MEMBERS)
    row("mall redemption replayed (same Idempotency-Key): requests / items sent (refused by the entry's guard)",
        f"{requests:.0f} / {items:.0f}", "≤ 10 / ≤ 7", requests <= 10 and items <= 7,
        requests_seen=replays.as_dict())  # fmt: skip
    requests, items = _per(sold_out, MEMBERS - 1)
    row("mall redemption sold out (已兑完): requests (auth, reward, the replay check), items written",
        f"{requests:.0f} / {items:.0f}", "≤ 4 / 0", requests <= 4 and items == 0,
        requests_seen=sold_out.as_dict())  # fmt: skip
    requests, _ = _per(listings, MEMBERS)
    row("the mall's rewards with my refusals: requests (auth, member, one Query, one BatchGetItem of my counts)",
        requests, "4", requests == 4, requests_seen=listings.as_dict())  # fmt: skip
    requests, _ = _per(mine, MEMBERS)
    row("my redemptions: requests (auth, member, one Query of my partition)", requests, "3", requests == 3)
    requests, items = _per(cancels, MEMBERS)
    row("mall cancel (points back into their lots): requests / transaction items", f"{requests:.0f} / {items:.0f}",
        "≤ 8 / 7", requests <= 8 and items <= 7, requests_seen=cancels.as_dict())  # fmt: skip
