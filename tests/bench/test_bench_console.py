"""What the operator console costs: a password sign-in (argon2id, on purpose slow), and the
DynamoDB requests and transaction items an admin request adds for its caller check and its
audit entry."""

from __future__ import annotations

import time

import pytest

from tests.bench.counting import count_dynamodb
from tests.bench.report import row
from tests.support.api import Api, dumps, member_headers, operator_headers
from tests.support.operators import with_password

pytestmark = pytest.mark.bench

PASSWORD = "correct horse battery"
SIGN_INS = 5
CALLS = 20


def _sign_in(api: Api) -> str:
    body = dumps({"operator_id": "dana", "password": PASSWORD})
    response = api.http.post("/admin/auth/login", body=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    return str(response.json_body["token"])


def test_bench_console_sign_in_and_admin_request_costs(api: Api) -> None:
    with_password("dana", PASSWORD)
    started = time.perf_counter()
    with count_dynamodb() as sign_in:
        token = _sign_in(api)
    for _ in range(SIGN_INS - 1):
        _sign_in(api)
    per_sign_in_ms = (time.perf_counter() - started) * 1000 / SIGN_INS

    _, member_id = api.login("bench")
    with count_dynamodb() as read:
        for _ in range(CALLS):
            assert (
                api.http.get(f"/admin/audit?target=member:{member_id}", headers=member_headers(token)).status_code
                == 200
            )
    with count_dynamodb() as by_key:
        for _ in range(CALLS):
            assert (
                api.http.get(f"/admin/audit?target=member:{member_id}", headers=operator_headers("dana")).status_code
                == 200
            )
    with count_dynamodb() as write:
        for n in range(CALLS):
            assert api.adjust(member_id, 10, f"bench-{n}").status_code == 201

    row("console: password sign-in (argon2id 64 MiB, t=3)", f"{per_sign_in_ms:.0f} ms", "deliberately ≥ 50 ms",
        per_sign_in_ms >= 50, dynamodb_requests=sign_in.total_requests)  # fmt: skip
    row("console: DynamoDB requests for the caller, token", read.total_requests / CALLS - 1, "1 GetItem",
        read.total_requests / CALLS - 1 <= 1, requests=read.as_dict())  # fmt: skip
    row("console: DynamoDB requests for the caller, script key", by_key.total_requests / CALLS - 1, "≤ 2 (lockout, account)",
        by_key.total_requests / CALLS - 1 <= 2, requests=by_key.as_dict())  # fmt: skip
    tx_items = write.items_written / CALLS
    row("admin adjustment: transaction items incl. audit entry", tx_items, "≤ 5", tx_items <= 5,
        requests=write.as_dict())  # fmt: skip
