"""Stored value in tests: the handle on the fake WeChat Pay (its fixtures: tests/support/wechatpay.py),
the programme's wallet section, and the member's calls (top up, read the wallet)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from chalicelib.clock import epoch_seconds
from local import wechatpay_keys as wk
from local.fake_wechatpay import FakeWeChatPay
from tests.support.api import Api, dumps, member_headers

NOTIFY_PATH = "/wechat/pay/notify"
SCALE = 1 / 100_000  # WeChat Pay's day of resends in under a second
KEYS = wk.generate_keys()  # once per test process: RSA keys take a moment to make


@dataclass
class FakePay:
    state: FakeWeChatPay
    api: Api
    keys: wk.PayKeys
    url: str
    # Answers the fake's deliveries get before they reach the API (a 503 the gateway gave, say).
    intercept: list[int]

    def pay(self, topup_id: str, *, notify: bool = True) -> dict[str, Any]:
        found = self.state.pay(topup_id, notify=notify)
        self.state.deliveries.wait()
        return found

    def use_mode(self, mode: str) -> None:
        """The merchant and the fake in WeChat Pay public-key or platform-certificate mode."""
        self.state.mode = mode
        apply_env(self.keys.merchant_env(mode))

    def notification(
        self, event_type: str, resource: dict[str, Any], *, summary: str = "支付成功"
    ) -> tuple[bytes, dict[str, Any]]:
        note = wk.envelope(self.keys.apiv3_key, event_type, summary, resource, "2026-11-22T10:00:00+08:00")
        return json.dumps(note, ensure_ascii=False).encode(), note

    def headers(self, body: bytes, **override: str) -> dict[str, str]:
        signed = wk.signed_headers(self.keys, self.state.mode, body, int(epoch_seconds()))
        return {"Content-Type": "application/json", **signed, **override}

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> Any:
        return self.api.http.post(NOTIFY_PATH, body=body, headers=headers or self.headers(body))


ENV_NAMES = (*KEYS.merchant_env(), "WECHATPAY_API_BASE", "WECHATPAY_NOTIFY_URL")


def apply_env(values: dict[str, str]) -> None:
    from chalicelib.settings import get_settings

    os.environ.update(values)
    get_settings.cache_clear()


TIERS = [{"min_fen": 50_000, "bonus_fen": 5_000}, {"min_fen": 100_000, "bonus_fen": 15_000}]


def enable_wallet(**rules: Any) -> None:
    """The configured programme with these wallet rules, as the next version (again and again)."""
    from chalicelib.domain.programme import Programme
    from chalicelib.services import programme
    from chalicelib.store import programme_repo

    rule = {"code": "topup_bonus", "name": "充500送50", "tiers": TIERS}
    document = programme.configured().model_dump(mode="json")
    document["wallet"] = {**document["wallet"], "enabled": True, "topup_rules": [rule], **rules}
    valid = Programme.model_validate(document, strict=False).model_dump(mode="json")
    programme_repo.publish(programme_repo.current_version(), valid, "t", "tests", None)
    programme.forget()


def topup(api: Api, token: str, amount_fen: int, key: str = "t-1") -> Any:
    headers = member_headers(token, **{"Idempotency-Key": key})
    return api.http.post("/v1/wallet/topups", body=dumps({"amount_fen": amount_fen}), headers=headers)


def wallet(api: Api, token: str, query: str = "") -> Any:
    response = api.http.get(f"/v1/wallet{query}", headers=member_headers(token))
    assert response.status_code == 200, response.body
    return response.json_body


def paid_topup(api: Api, pay: FakePay, token: str, amount_fen: int, key: str = "t-1") -> str:
    """A top-up made and paid, its notification delivered: the topup_id."""
    response = topup(api, token, amount_fen, key)
    assert response.status_code == 201, response.body
    topup_id: str = response.json_body["topup_id"]
    pay.pay(topup_id)
    return topup_id
