"""Hostile or absurd input is a 4xx naming the field: never a 500, never a partial write."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

from chalicelib.clock import epoch_seconds, utc_now
from chalicelib.security.signatures import pos_signature
from chalicelib.store.models import CampaignModel
from tests.support.api import POS_ID, POS_SECRET, Api, dumps, member_headers, operator_headers, paid_at, pos_headers

JSON = {"Content-Type": "application/json"}


def _fields(response: Any) -> list[str]:
    return [item["field"] for item in response.json_body["error"]["fields"]]


def _balance(api: Api, token: str) -> int:
    return int(api.me(token).json_body["points"]["balance"])


# --- 1. nesting ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 8000 + b"]" * 8000,  # deep enough to exhaust the parser's recursion
        b"[" * 8000,  # unbalanced as well
        b'{"code": ' + b'{"a": ' * 33 + b"1" + b"}" * 33 + b"}",  # just past the limit
    ],
    ids=["8000-lists", "8000-unclosed", "34-objects"],
)
def test_json_body_nested_deeper_than_the_limit_is_400_naming_body(api: Api, body: bytes) -> None:
    response = api.http.post("/v1/auth/login", body=body, headers=JSON)
    assert response.status_code == 400, response.body[:200]
    assert _fields(response) == ["body"]


def test_json_nested_up_to_the_limit_is_read_and_brackets_inside_strings_do_not_count(api: Api) -> None:
    token, _ = api.login("nest")
    within = b'{"code": ' + b"[" * 31 + b"]" * 31 + b"}"  # depth 32: pydantic names the field
    response = api.http.post("/v1/auth/login", body=within, headers=JSON)
    assert response.status_code == 400 and _fields(response) == ["code"]
    reason = '[{"' * 20 + '\\"[['  # brackets and an escaped quote inside a string
    redeem = api.http.post(
        "/v1/me/points/redemptions",
        body=dumps({"points": 1, "reason": reason}),
        headers=member_headers(token, **{"Idempotency-Key": "nest-1"}),
    )
    assert redeem.status_code == 409 and redeem.json_body["error"]["code"] == "insufficient_points"


@pytest.mark.parametrize(("name", "value"), [("cursor", "[" * 100_000), ("limit", "[" * 1000 + "]" * 1000)])
def test_deeply_nested_query_parameter_is_400_naming_it(api: Api, name: str, value: str) -> None:
    token, _ = api.login("nested-query")
    response = api.http.get(f"/v1/me/points/ledger?{name}={quote(value)}", headers=member_headers(token))
    assert response.status_code == 400 and _fields(response) == [name]


# --- 3. POS timestamps -------------------------------------------------------------------

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _current_in_arabic_indic_digits() -> str:
    return str(int(epoch_seconds())).translate(ARABIC_INDIC)


@pytest.mark.parametrize(
    "stamp",
    [
        lambda: "²",
        _current_in_arabic_indic_digits,  # int() reads it, and it is inside the window
        lambda: "9" * 5000,  # beyond int()'s 4300-digit limit
        lambda: "1" * 13,
        lambda: "+" + str(int(epoch_seconds())),
        lambda: " " + str(int(epoch_seconds())),
    ],
    ids=["superscript-two", "arabic-indic-now", "5000-digits", "13-digits", "plus-sign", "leading-space"],
)
def test_pos_timestamp_must_be_1_to_12_ascii_digits_else_401_and_nothing_written(
    api: Api, stamp: Callable[[], str]
) -> None:
    token, member_id = api.login("stamp")
    body = dumps({"order_id": "TS-1", "member": {"member_id": member_id}, "amount_fen": 10_000, "paid_at": paid_at()})
    timestamp = stamp()
    headers = {
        **JSON,
        "X-Client-Id": POS_ID,
        "X-Timestamp": timestamp,
        "X-Signature": pos_signature(POS_SECRET, "POST", "/v1/orders", timestamp, body),
    }
    response = api.http.post("/v1/orders", body=body, headers=headers)
    assert response.status_code == 401, response.body[:200]
    assert response.json_body["error"]["code"] == "pos_timestamp_out_of_window"
    assert _balance(api, token) == 0


def test_pos_signature_that_is_not_ascii_hex_is_401(api: Api) -> None:
    token, member_id = api.login("sig")
    body = dumps({"order_id": "SG-1", "member": {"member_id": member_id}, "amount_fen": 10_000, "paid_at": paid_at()})
    stamp = str(int(epoch_seconds()))
    headers = {**JSON, "X-Client-Id": POS_ID, "X-Timestamp": stamp, "X-Signature": "é" * 64}
    response = api.http.post("/v1/orders", body=body, headers=headers)
    assert response.status_code == 401 and response.json_body["error"]["code"] == "pos_bad_signature"
    assert _balance(api, token) == 0


# --- 4. ledger cursors -------------------------------------------------------------------


def _cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"N": "1"}
    for _ in range(depth):
        value = {"L": [value]}
    return value


CRAFTED: dict[str, Callable[[str], Any]] = {
    "seq-as-string": lambda me: {"member_id": {"S": me}, "seq": {"S": "x"}, "entry_id": {"N": "1"}},
    "seq-1e999": lambda me: {"member_id": {"S": me}, "seq": {"N": "1e999"}, "entry_id": {"S": "order:x"}},
    "seq-fraction": lambda me: {"member_id": {"S": me}, "seq": {"N": "1.5"}, "entry_id": {"S": "order:x"}},
    "seq-negative": lambda me: {"member_id": {"S": me}, "seq": {"N": "-1"}, "entry_id": {"S": "order:x"}},
    "seq-nested-lists": lambda me: {"member_id": {"S": me}, "seq": _nested(40), "entry_id": {"S": "order:x"}},
    "seq-bare-number": lambda me: {"member_id": {"S": me}, "seq": 1, "entry_id": {"S": "order:x"}},
    "member-two-types": lambda me: {"member_id": {"S": me, "N": "1"}, "seq": {"N": "1"}, "entry_id": {"S": "x"}},
    "entry-id-not-string": lambda me: {"member_id": {"S": me}, "seq": {"N": "1"}, "entry_id": {"S": 5}},
    "entry-id-too-long": lambda me: {"member_id": {"S": me}, "seq": {"N": "1"}, "entry_id": {"S": "x" * 513}},
    "entry-id-list": lambda me: {"member_id": {"S": me}, "seq": {"N": "1"}, "entry_id": {"L": []}},
    "a-list": lambda me: [me],
    "null": lambda me: None,
}


@pytest.mark.parametrize("craft", list(CRAFTED.values()), ids=list(CRAFTED))
def test_crafted_ledger_cursor_is_400_naming_cursor(api: Api, craft: Callable[[str], Any]) -> None:
    token, member_id = api.login("cursor")
    api.order("CUR-1", {"member_id": member_id}, 10_000)
    cursor = _cursor(craft(member_id))
    response = api.http.get(f"/v1/me/points/ledger?cursor={cursor}", headers=member_headers(token))
    assert response.status_code == 400, response.body[:300]
    assert _fields(response) == ["cursor"]


def test_ledger_pages_through_entries_with_the_longest_ids_the_api_allows(api: Api) -> None:
    """Escaping triples a `:`, so a refund's entry id can reach 392 characters; its cursor must still work."""
    token, member_id = api.login("long-ids")
    order_id = ":" * 64
    assert api.order(order_id, {"member_id": member_id}, 10_000).status_code == 200
    for n in range(3):
        refund = api.refund(order_id, {"refund_id": ":" * 63 + str(n), "amount_fen": 100})
        assert refund.status_code == 200, refund.body[:300]
    seen, cursor = [], None
    for _ in range(6):
        path = "/v1/me/points/ledger?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = api.http.get(path, headers=member_headers(token))
        assert page.status_code == 200, page.body[:300]
        seen += [item["id"] for item in page.json_body["items"]]
        cursor = page.json_body["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 4 and max(len(entry_id) for entry_id in seen) == 390


# --- 5. instants far from the clock --------------------------------------------------------


def _campaign(api: Api, key: str, send_at: str) -> Any:
    body = dumps({"name": "会员日", "template": "campaign.member_day", "audience": {}, "send_at": send_at})
    return api.http.post("/admin/campaigns", body=body, headers={**operator_headers(), "Idempotency-Key": key})


@pytest.mark.parametrize(
    "send_at",
    [
        lambda: "9999-12-31T23:59:59-12:00",
        lambda: "0001-01-01T00:00:00+14:00",
        lambda: (utc_now() + timedelta(days=367)).isoformat(),
        lambda: (utc_now() - timedelta(days=732)).isoformat(),
    ],
    ids=["year-9999", "year-1", "367-days-ahead", "732-days-ago"],
)
def test_campaign_send_at_outside_the_scheduling_window_is_400_naming_send_at(
    api: Api, send_at: Callable[[], str]
) -> None:
    response = _campaign(api, "far", send_at())
    assert response.status_code == 400, response.body[:300]
    assert _fields(response) == ["send_at"]
    assert sum(1 for _ in CampaignModel.scan()) == 0


def test_campaign_send_at_within_a_year_or_just_past_is_accepted(api: Api) -> None:
    for key, moment in [("soon", utc_now() + timedelta(days=365)), ("now", utc_now() - timedelta(minutes=1))]:
        response = _campaign(api, key, moment.isoformat())
        assert response.status_code == 201, response.body[:300]


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_absurd_paid_at_is_400_naming_paid_at(api: Api, moment: str) -> None:
    token, member_id = api.login("absurd")
    response = api.order("ABS-1", {"member_id": member_id}, 10_000, paid_at=moment)
    assert response.status_code == 400, response.body[:300]
    assert _fields(response) == ["paid_at"]
    assert _balance(api, token) == 0


# --- the money routes of issues 14-16: a huge or deeply nested body is refused before any effect ---

MONEY_ROUTES = [
    ("member", "/v1/me/gifts"),
    ("member", "/v1/mall/redemptions"),
    ("member", "/v1/wallet/topups"),
    ("operator", "/admin/coupon-templates"),
    ("operator", "/admin/mall/rewards"),
    ("pos", "/v1/checkout/quote"),
    ("pos", "/v1/checkout/confirm"),
    ("pos", "/v1/checkout/HM-1/cancel"),
]


@pytest.mark.parametrize(("caller", "path"), MONEY_ROUTES, ids=[path for _, path in MONEY_ROUTES])
@pytest.mark.parametrize("shape", ["huge", "nested"])
def test_money_routes_refuse_huge_and_nested_bodies_and_write_nothing(
    api: Api, caller: str, path: str, shape: str
) -> None:
    token, member_id = api.login("hostile-money")
    assert api.order("HM-1", {"member_id": member_id}, 100_000).status_code == 200
    body = b'{"x": "' + b"a" * 70_000 + b'"}' if shape == "huge" else b'{"a": ' * 40 + b"1" + b"}" * 40
    headers = {"member": member_headers(token), "operator": operator_headers(),
               "pos": pos_headers("POST", path, body)}[caller]  # fmt: skip
    if caller != "pos":  # POS requests are idempotent on their own ids
        headers = {**headers, "Idempotency-Key": f"hm-{shape}"}
    before = api.me(token).json_body["points"]

    response = api.http.post(path, body=body, headers=headers)

    assert response.status_code == (413 if shape == "huge" else 400), response.body[:200]
    if shape == "nested":
        assert _fields(response) == ["body"]
    assert api.me(token).json_body["points"] == before
