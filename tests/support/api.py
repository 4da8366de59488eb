"""Helpers to call the API as each kind of caller does."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalice.test import Client

from chalicelib.clock import epoch_seconds, pinned_at, utc_now
from chalicelib.security.signatures import pos_signature
from tests.support.env import TEST_ENV
from tests.support.operators import OPERATOR_KEYS

SHANGHAI = ZoneInfo("Asia/Shanghai")
POS_ID = "pos-1"
POS_SECRETS: dict[str, str] = json.loads(TEST_ENV["POS_CLIENTS"])
POS_SECRET = POS_SECRETS[POS_ID]


def pos_headers(
    method: str, path: str, body: bytes, *, timestamp: int | None = None, client: tuple[str, str] | None = None
) -> dict[str, str]:
    client_id, secret = client or (POS_ID, POS_SECRET)
    stamp = str(int(epoch_seconds()) if timestamp is None else timestamp)
    return {
        "Content-Type": "application/json",
        "X-Client-Id": client_id,
        "X-Timestamp": stamp,
        "X-Signature": pos_signature(secret, method, path, stamp, body),
    }


def operator_headers(operator: str = "alice", key: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Operator-Id": operator,
        "X-Operator-Key": key if key is not None else OPERATOR_KEYS[operator],
    }


def member_headers(token: str, **extra: str) -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {token}", **extra}


def paid_at(hours_ago: float = 1) -> str:
    """An order's paid_at an hour (or `hours_ago`) before the instant the clock was pinned at
    (the same value for every call in a test, so a retried order is the same request)."""
    start = pinned_at() or utc_now()
    return (start - timedelta(hours=hours_ago)).astimezone(SHANGHAI).isoformat()


def dumps(payload: Any) -> bytes:
    return json.dumps(payload).encode()


class Api:
    """A Chalice test client with the callers' conventions built in."""

    def __init__(self, client: Client) -> None:
        self.http = client.http

    def login(self, name: str) -> tuple[str, str]:
        response = self.http.post(
            "/v1/auth/login", body=dumps({"code": f"demo:{name}"}), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 200, response.body
        return response.json_body["token"], response.json_body["member_id"]

    def order(self, order_id: str, member: dict[str, str], amount_fen: int, **extra: Any) -> Any:
        body = dumps(
            {
                "order_id": order_id,
                "member": member,
                "amount_fen": amount_fen,
                "paid_at": paid_at(),
                **extra,
            }
        )
        return self.http.post("/v1/orders", body=body, headers=pos_headers("POST", "/v1/orders", body))

    def refund(self, order_id: str, payload: dict[str, Any]) -> Any:
        body = dumps(payload)
        path = f"/v1/orders/{order_id}/refund"
        return self.http.post(path, body=body, headers=pos_headers("POST", path, body))

    def redeem(self, token: str, points: int, key: str, reason: str = "gift") -> Any:
        return self.http.post(
            "/v1/me/points/redemptions",
            body=dumps({"points": points, "reason": reason}),
            headers=member_headers(token, **{"Idempotency-Key": key}),
        )

    def me(self, token: str) -> Any:
        return self.http.get("/v1/me", headers=member_headers(token))

    def adjust(self, member_id: str, points: int, key: str, operator: str = "alice") -> Any:
        return self.http.post(
            f"/admin/members/{member_id}/points/adjustments",
            body=dumps({"points": points, "reason": "service recovery"}),
            headers={**operator_headers(operator), "Idempotency-Key": key},
        )
