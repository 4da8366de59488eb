"""What a redemption (核销) costs: DynamoDB requests and transaction items per staff redemption
(typed code or QR payload), per refused second attempt, per replay, per POS redemption and
return; what the staff customer view costs with coupons; what the coupon reminder job reads.

Per redemption: the code → coupon (GetItem ×2, consistent) and one TransactWriteItems of the
coupon's conditional update and its `coupon.used` event (outbox). The staff token and the POS
signature cost no request. A second attempt is refused from the read, before any write."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.clock import utc_now
from chalicelib.jobs.runner import run_job
from chalicelib.security.tokens import issue_token
from tests.bench.counting import Tally, count_dynamodb
from tests.bench.report import row
from tests.support.api import Api, dumps, member_headers, operator_headers, pos_headers

pytestmark = pytest.mark.bench

COUPONS = 10


def _template(api: Api, key: str, days: int = 7) -> str:
    body = {
        "name": "满200减30",
        "benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 3000},
        "validity": {"kind": "days_after_claim", "days": days},
        "stock": 1000,
    }
    headers = {**operator_headers(), "Idempotency-Key": key}
    response = api.http.post("/admin/coupon-templates", body=dumps(body), headers=headers)
    assert response.status_code == 201, response.body
    return str(response.json_body["template_id"])


def _claimed(api: Api, template_id: str, prefix: str) -> list[tuple[str, str]]:
    """(member token, code) of COUPONS members who each claimed one coupon."""
    found = []
    for n in range(COUPONS):
        token, _ = api.login(f"{prefix}{n}")
        headers = member_headers(token, **{"Idempotency-Key": "k1"})
        response = api.http.post(f"/v1/coupons/{template_id}/claims", body=b"", headers=headers)
        assert response.status_code == 201, response.body
        found.append((token, str(response.json_body["code"])))
    return found


def _staff(api: Api, body: dict[str, Any], status: int = 200, **extra: str) -> None:
    token, _ = issue_token("zhangsan", "staff", utc_now())
    response = api.http.post("/v1/staff/coupons/redemptions", body=dumps(body), headers=member_headers(token, **extra))
    assert response.status_code == status, response.body


def _pos(api: Api, path: str, payload: dict[str, Any]) -> None:
    body = dumps(payload)
    response = api.http.post(path, body=body, headers=pos_headers("POST", path, body))
    assert response.status_code == 200, response.body


def _per(tally: Tally, calls: int) -> tuple[float, float]:
    return tally.total_requests / calls, tally.items_written / calls


def test_bench_redemption_costs(api: Api) -> None:
    typed = _claimed(api, _template(api, "typed"), "typed")
    scanned = _claimed(api, _template(api, "scanned"), "scanned")
    at_pos = _claimed(api, _template(api, "pos"), "pos")
    payloads = [
        api.http.get(f"/v1/me/coupons/{code}/qr", headers=member_headers(token)).json_body["payload"]
        for token, code in scanned
    ]

    with count_dynamodb() as codes:
        for n, (_, code) in enumerate(typed):
            _staff(api, {"code": code, "store_id": "S1"}, **{"Idempotency-Key": f"r{n}"})
    with count_dynamodb() as scans:
        for payload in payloads:
            _staff(api, {"payload": payload, "store_id": "S1"})
    with count_dynamodb() as refused:
        for _, code in scanned:
            _staff(api, {"code": code, "store_id": "S2"}, status=409)
    with count_dynamodb() as replays:
        for n, (_, code) in enumerate(typed):
            _staff(api, {"code": code, "store_id": "S1"}, **{"Idempotency-Key": f"r{n}"})
    with count_dynamodb() as pos_uses:
        for n, (_, code) in enumerate(at_pos):
            _pos(api, "/v1/pos/coupons/redemptions", {"code": code, "store_id": "S1", "order_id": f"O-{n}"})
    with count_dynamodb() as returns:
        for n, (_, code) in enumerate(at_pos):
            _pos(api, f"/v1/pos/coupons/{code}/return", {"order_id": f"O-{n}"})

    requests, items = _per(codes, COUPONS)
    row("staff redemption, typed code: DynamoDB requests (code, coupon, transaction)", requests, "3",
        requests == 3 and codes.requests["Scan"] == 0, requests_seen=codes.as_dict())  # fmt: skip
    row("staff redemption: transaction items (coupon's conditional update, coupon.used event)", items, "2",
        items == 2)  # fmt: skip
    requests, items = _per(scans, COUPONS)
    row("staff redemption, QR payload: requests / items", f"{requests:.0f} / {items:.0f}", "3 / 2",
        (requests, items) == (3, 2), requests_seen=scans.as_dict())  # fmt: skip
    requests, items = _per(refused, COUPONS)
    row("second redemption (409 coupon_already_used): requests / items written", f"{requests:.0f} / {items:.0f}",
        "2 / 0", (requests, items) == (2, 0), requests_seen=refused.as_dict())  # fmt: skip
    requests, items = _per(replays, COUPONS)
    row("staff redemption replayed (same Idempotency-Key): requests / items", f"{requests:.0f} / {items:.0f}",
        "2 / 0", (requests, items) == (2, 0))  # fmt: skip
    requests, items = _per(pos_uses, COUPONS)
    row("POS redemption outside checkout: requests / items", f"{requests:.0f} / {items:.0f}", "3 / 2",
        (requests, items) == (3, 2), requests_seen=pos_uses.as_dict())  # fmt: skip
    requests, items = _per(returns, COUPONS)
    row("POS coupon return (退券): requests / items (coupon, coupon.returned event)", f"{requests:.0f} / {items:.0f}",
        "3 / 2", (requests, items) == (3, 2), requests_seen=returns.as_dict())  # fmt: skip


def test_bench_staff_view_and_reminders(api: Api) -> None:
    from chalicelib.services import identity
    from chalicelib.store import channels_repo

    token, member_id = api.login("viewed")
    identity.link_alias(member_id, "work:wm_viewed", utc_now())
    channels_repo.set_work_contact(member_id, "wm_viewed", {"zhangsan"})
    for n in range(5):
        headers = member_headers(token, **{"Idempotency-Key": f"k{n}"})
        assert (
            api.http.post(f"/v1/coupons/{_template(api, f'v{n}')}/claims", body=b"", headers=headers).status_code == 201
        )
    staff_token, _ = issue_token("zhangsan", "staff", utc_now())
    with count_dynamodb() as view:
        response = api.http.get("/v1/staff/customers/wm_viewed?store_id=S1", headers=member_headers(staff_token))
    assert response.status_code == 200 and len(response.json_body["coupons"]) == 5

    later = _template(api, "later", days=30)  # not due: never read by the job
    for n in range(30):
        other, _ = api.login(f"notdue{n}")
        headers = member_headers(other, **{"Idempotency-Key": "k"})
        api.http.post(f"/v1/coupons/{later}/claims", body=b"", headers=headers)
    with count_dynamodb() as nothing_due:
        run_job("coupon-reminders", utc_now())
    due = _template(api, "due", days=4)
    for n in range(20):
        other, _ = api.login(f"due{n}")
        headers = member_headers(other, **{"Idempotency-Key": "k"})
        api.http.post(f"/v1/coupons/{due}/claims", body=b"", headers=headers)
    from chalicelib.store.models import JobStateModel

    JobStateModel("coupon-reminders").delete()
    with count_dynamodb() as twenty_due:
        counts = run_job("coupon-reminders", utc_now())

    row("staff customer view with 5 coupons: requests (alias, member view, coupons Query)", view.total_requests,
        "≤ 8", view.total_requests <= 8 and view.requests["Scan"] == 0, requests_seen=view.as_dict())  # fmt: skip
    queries = nothing_due.requests["Query"]
    row("coupon reminders, a day with nothing due (30 coupons ending later): index Queries", queries, "16 (shards)",
        queries == 16 and nothing_due.requests["BatchGetItem"] == 0 and nothing_due.requests["Scan"] == 0,
        requests_seen=nothing_due.as_dict())  # fmt: skip
    extra = twenty_due.read_requests - nothing_due.read_requests
    row("coupon reminders, 20 coupons due: reads beyond the 16 Queries (one BatchGetItem per page)", extra,
        "≤ 16", extra <= 16 and counts["events"] == 20 and twenty_due.requests["Scan"] == 0,
        requests_seen=twenty_due.as_dict())  # fmt: skip
