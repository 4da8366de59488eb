"""What the contract run needs to exist before it starts: a member with points and a ledger of
more than one page, an order, a pending approval and a campaign, so that generated requests
reach past "not found" when they name one of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import requests

from chalicelib.clock import utc_now
from tests.contract.callers import MEMBER, Always, Credential


@dataclass(frozen=True)
class Seeded:
    path: dict[str, str] = field(default_factory=dict)  # path parameter name → an existing id
    cursor: str = ""  # a next_cursor the ledger handed out


def _send(api_url: str, method: str, path: str, auth: Credential, **kwargs: Any) -> Any:
    response = requests.request(method, f"{api_url}{path}", auth=Always(auth), timeout=10, **kwargs)
    if response.status_code >= 300:
        raise RuntimeError(f"seeding {method} {path}: {response.status_code} {response.text[:300]}")
    return response.json()


def seed(api_url: str, auth: dict[str, Credential], second_operator: Credential) -> Seeded:
    now = utc_now()
    paid_at, run = (now - timedelta(hours=1)).isoformat(), f"{int(now.timestamp())}"  # a stack may be seeded twice
    for order_id in (f"CT-{run}-1", f"CT-{run}-2"):
        body = {"order_id": order_id, "member": {"openid": f"o_{MEMBER}"}, "amount_fen": 50_000, "paid_at": paid_at}
        order = _send(api_url, "POST", "/v1/orders", auth["posSignature"], json=body)
    page = _send(api_url, "GET", "/v1/me/points/ledger?limit=1", auth["memberToken"])
    # Above the threshold, by another operator than the one the run uses, so the run may approve it.
    adjustment = _send(
        api_url,
        "POST",
        f"/admin/members/{order['member_id']}/points/adjustments",
        second_operator,
        json={"points": 5000, "reason": "contract seed"},
        headers={"Idempotency-Key": f"contract-seed-{run}"},
    )
    campaign = _send(
        api_url,
        "POST",
        "/admin/campaigns",
        auth["operatorKey"],
        json={
            "name": "contract",
            "template": "campaign.member_day",
            "audience": {"tags": ["contract"]},
            "send_at": paid_at,
        },
        headers={"Idempotency-Key": f"contract-seed-{run}"},
    )
    offer = {
        "name": "contract",
        "benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 3000},
        "validity": {"kind": "days_after_claim", "days": 30},
        "stock": 100_000,
    }
    key = {"Idempotency-Key": f"contract-seed-{run}"}
    template = _send(api_url, "POST", "/admin/coupon-templates", auth["operatorKey"], json=offer, headers=key)
    path = f"/v1/coupons/{template['template_id']}/claims"
    coupon = _send(api_url, "POST", path, auth["memberToken"], headers=key)
    ids = {
        "template_id": template["template_id"],
        "code": coupon["code"],
        "member_id": order["member_id"],
        "order_id": f"CT-{run}-1",
        "approval_id": adjustment["approval_id"],
        "campaign_id": campaign["campaign_id"],
    }
    return Seeded(path=ids, cursor=page["next_cursor"])
