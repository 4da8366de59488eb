"""The operators' wallet view (储值, `GET /admin/members/{member_id}/wallet`, permission wallet.read):
balances, a page of the ledger, the latest top-ups and refunds newest first (bounded), a merged
member followed to its survivor; and the balances on the member's page."""

from __future__ import annotations

from typing import Any

from chalicelib import clock
from chalicelib.services import identity, member_service
from tests.support.api import Api, dumps, member_headers, operator_headers
from tests.support.wallet import FakePay, paid_topup, topup

pytest_plugins = ["tests.support.wechatpay"]  # the fake WeChat Pay's fixtures: pay, pay_server


def view(api: Api, member_id: str, query: str = "", operator: str = "alice") -> Any:
    return api.http.get(f"/admin/members/{member_id}/wallet{query}", headers=operator_headers(operator))


def test_the_view_shows_balances_the_ledger_and_the_top_ups_and_refunds_newest_first(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("aw-a")
    first = paid_topup(api, pay, token, 50_000, key="k1")  # + 5,000
    second = paid_topup(api, pay, token, 10_000, key="k2")
    pending = topup(api, token, 2_000, key="k3").json_body["topup_id"]
    quote = api.http.get(f"/v1/wallet/topups/{second}/refund-quote", headers=member_headers(token)).json_body
    headers = member_headers(token, **{"Idempotency-Key": "r1"})
    body = dumps({"cash_fen": quote["cash_fen"]})
    refund_id = api.http.post(f"/v1/wallet/topups/{second}/refunds", body=body, headers=headers).json_body["refund_id"]
    pay.state.deliveries.wait()

    response = view(api, member_id)

    assert response.status_code == 200, response.body
    found = response.json_body
    assert (found["member_id"], found["requested_id"], found["merged_into"], found["closed"]) == (
        member_id,
        member_id,
        None,
        False,
    )
    assert found["balances"] == {"principal_fen": 50_000, "bonus_fen": 5_000, "balance_fen": 55_000,
                                 "pending_fen": 2_000}  # fmt: skip
    assert [(i["purse"], i["kind"], i["delta_fen"]) for i in found["items"]] == [
        ("principal", "refund", -10_000),
        ("principal", "topup", 10_000),
        ("bonus", "topup", 5_000),
        ("principal", "topup", 50_000),
    ]
    assert found["items"][0]["detail"]["topup_id"] == second
    assert [(t["topup_id"], t["status"]) for t in found["topups"]] == [
        (pending, "pending"),
        (second, "paid"),
        (first, "paid"),
    ]
    assert found["topups"][1]["refunded_principal_fen"] == 10_000 and found["topups"][1]["transaction_id"]
    assert [(r["refund_id"], r["status"], r["cash_fen"]) for r in found["refunds"]] == [(refund_id, "success", 10_000)]
    assert found["merged_accounts"] == []


def test_the_ledger_pages_with_the_cursor_it_hands_out_and_refuses_another(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("aw-a")
    paid_topup(api, pay, token, 50_000)  # two lines

    page = view(api, member_id, "?limit=1").json_body
    following = view(api, member_id, f"?limit=1&cursor={page['next_cursor']}").json_body
    forged = view(api, member_id, "?cursor=bm90LWEtY3Vyc29y")

    assert [i["seq"] for i in page["items"]] == [2] and [i["seq"] for i in following["items"]] == [1]
    assert following["next_cursor"] is None
    assert forged.status_code == 400 and forged.json_body["error"]["fields"][0]["field"] == "cursor"


def test_a_merged_member_is_followed_to_the_survivor_whose_view_lists_its_top_ups(api: Api, pay: FakePay) -> None:
    token_a, a = api.login("aw-a")
    token_b, b = api.login("aw-b")
    own = paid_topup(api, pay, token_a, 10_000, key="a1")
    merged_in = paid_topup(api, pay, token_b, 20_000, key="b1")
    identity.merge_members(a, b, trigger="admin", now=clock.utc_now(), operator="alice", approved_by="bob")

    asked_b = view(api, b).json_body
    asked_a = view(api, a).json_body

    assert (asked_b["member_id"], asked_b["requested_id"], asked_b["merged_into"]) == (a, b, a)
    assert asked_b["balances"]["principal_fen"] == 30_000 and asked_b == {**asked_a, "requested_id": b,
                                                                           "merged_into": a}  # fmt: skip
    assert asked_a["merged_accounts"] == [b]
    assert [(t["topup_id"], t["member_id"]) for t in asked_a["topups"]] == [(merged_in, b), (own, a)]
    assert [(i["kind"], i["delta_fen"], i["ref"]) for i in asked_a["items"][:1]] == [
        ("merge_in", 20_000, f"merge:{b}:in")
    ]


def test_the_top_ups_shown_are_the_latest_twenty(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("aw-a")
    ids = [topup(api, token, 1_000 + n, key=f"k{n:02d}").json_body["topup_id"] for n in range(22)]

    found = view(api, member_id).json_body

    assert len(found["topups"]) == member_service.RECENT_TOPUPS == 20
    assert {t["topup_id"] for t in found["topups"]} == set(ids[2:])


def test_auditors_may_read_it_members_may_not_and_an_unknown_member_is_404(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("aw-a")

    assert view(api, member_id, operator="erin").status_code == 200
    mine = api.http.get(f"/admin/members/{member_id}/wallet", headers=member_headers(token))
    anonymous = api.http.get(f"/admin/members/{member_id}/wallet", headers={"Content-Type": "application/json"})
    missing = view(api, "m_nobody")

    assert mine.status_code == 403 and anonymous.status_code == 401
    assert missing.status_code == 404 and missing.json_body["error"]["code"] == "member_not_found"


def test_the_members_page_shows_their_own_wallet_balances(api: Api, pay: FakePay) -> None:
    token, member_id = api.login("aw-a")
    paid_topup(api, pay, token, 50_000)
    topup(api, token, 1_000, key="p")

    page = api.http.get(f"/admin/members/{member_id}", headers=operator_headers("alice"))

    assert page.status_code == 200, page.body
    assert page.json_body["wallet"] == {"principal_fen": 50_000, "bonus_fen": 5_000, "balance_fen": 55_000,
                                        "pending_fen": 1_000}  # fmt: skip
