"""Fulfilments of physical gifts and cancels through the API: shipped, delivered and audited with
phones masked in listings; cancels that give the points back into their original lots (a lot
past its date: into one expiring today), the stock and the member's limit, once; a closed
account's addresses erased. Helpers are test_mall.py's."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

from chalicelib import clock
from chalicelib.store import mall_repo, points_repo
from chalicelib.store.models import AuditModel, MemberModel
from tests.integration.test_mall import (
    ADDRESS,
    balance,
    clean,
    error,
    lots,
    member,
    month_end,
    months_ago,
    redeem,
    remaining,
    reward,
    seed,
)
from tests.support.api import SHANGHAI, Api, dumps, member_headers, operator_headers


def test_a_physical_gift_is_shipped_delivered_and_audited_and_phones_are_masked_in_listings(api: Api) -> None:
    reward_id = reward(api)
    token, _ = member(api, "shipper")
    rid = redeem(api, token, reward_id, address=ADDRESS).json_body["redemption_id"]
    path = f"/admin/mall/fulfilments/{rid}"

    listed = api.http.get("/admin/mall/fulfilments?status=pending", headers=operator_headers()).json_body
    assert [item["redemption_id"] for item in listed["items"]] == [rid]
    assert listed["items"][0]["address"]["phone"] == "138****5678"
    assert api.http.get(path, headers=operator_headers("erin")).json_body["address"]["phone"] == "138****5678"
    assert api.http.get(path, headers=operator_headers("alice")).json_body["address"]["phone"] == "13812345678"
    assert (
        api.http.get(f"/v1/me/mall/redemptions/{rid}", headers=member_headers(token)).json_body["address"]["phone"]
        == "138****5678"
    )
    assert error(api.http.post(path + "/deliver", body=b"", headers=operator_headers()))[:2] == (
        409,
        "mall_not_shipped",
    )

    ship = {"carrier": "顺丰速运", "tracking_no": "SF1234567890"}
    shipped = api.http.post(path + "/ship", body=dumps(ship), headers=operator_headers())
    assert shipped.status_code == 200 and shipped.json_body["shipment"]["tracking_no"] == "SF1234567890"
    assert api.http.post(path + "/ship", body=dumps(ship), headers=operator_headers()).status_code == 200
    delivered = api.http.post(path + "/deliver", body=b"", headers=operator_headers())
    assert delivered.json_body["status"] == "delivered"
    cancel = api.http.post(path + "/cancel", body=dumps({"reason": "x"}), headers=operator_headers())
    assert error(cancel)[:2] == (409, "mall_already_shipped")
    actions = sorted(item.action for item in AuditModel.scan() if item.target == f"redemption:{rid}")
    assert actions == [
        f"POST {path.replace(rid, '{redemption_id}')}/deliver",
        f"POST {path.replace(rid, '{redemption_id}')}/ship",
        "read fulfilment address",
    ]
    assert api.http.get("/admin/mall/fulfilments?status=delivered", headers=operator_headers()).json_body["items"]


def test_the_export_shows_the_address_in_full_and_a_closed_accounts_are_erased_once_shipped(api: Api) -> None:
    from chalicelib.services import mall
    from chalicelib.store import mall_redemptions_repo

    reward_id = reward(api)
    token, member_id = member(api, "private")
    sent = redeem(api, token, reward_id, "k1", address=ADDRESS).json_body["redemption_id"]
    waiting = redeem(api, token, reward_id, "k2", address=ADDRESS).json_body["redemption_id"]
    ship = dumps({"carrier": "顺丰速运", "tracking_no": "SF0000000001"})
    api.http.post(f"/admin/mall/fulfilments/{sent}/ship", body=ship, headers=operator_headers())

    exported = json.loads(json.dumps(mall.export_rows(member_id), ensure_ascii=False))
    assert {row["redemption_id"] for row in exported} == {sent, waiting}
    assert {row["address"]["phone"] for row in exported} == {ADDRESS["phone"]}  # the member's own, in full
    assert mall_redemptions_repo.erase_addresses(member_id) == 1
    assert mall_redemptions_repo.erase_addresses(member_id) == 0
    shown = api.http.get(f"/admin/mall/fulfilments/{sent}", headers=operator_headers()).json_body["address"]
    assert shown == {"name": "*", "phone": "", "region": "", "detail": ""}
    kept = api.http.get(f"/admin/mall/fulfilments/{waiting}", headers=operator_headers()).json_body["address"]
    assert kept["phone"] == ADDRESS["phone"]


def test_a_crafted_fulfilment_cursor_is_400_naming_cursor(api: Api) -> None:
    for cursor in ("eyJhIjoxfQ", "eyJhIjoxfQ.00000000000000000000000000000000", "x" * 3000):
        response = api.http.get(f"/admin/mall/fulfilments?cursor={cursor}", headers=operator_headers())
        assert error(response)[0::2] == (400, ["cursor"]), cursor


# --- cancel: the points go back into their lots --------------------------------------------------


def test_cancelling_gives_the_points_back_into_their_original_lots_the_stock_and_the_limit(api: Api) -> None:
    reward_id = reward(api, points=250, per_member_limit=1)
    token, member_id = member(api, "lots", 0)
    for months in (11, 10, 8):
        seed(member_id, 100, months_ago(months))
    before = lots(member_id)
    made = redeem(api, token, reward_id, address=ADDRESS).json_body
    assert made["lots"] == [
        {"expires_on": month_end(months_ago(11), 12), "points": 100},
        {"expires_on": month_end(months_ago(10), 12), "points": 100},
        {"expires_on": month_end(months_ago(8), 12), "points": 50},
    ]
    assert error(redeem(api, token, reward_id, "k2", address=ADDRESS))[:2] == (409, "mall_limit_reached")

    path = f"/admin/mall/fulfilments/{made['redemption_id']}/cancel"
    cancelled = api.http.post(path, body=dumps({"reason": "缺货"}), headers=operator_headers())

    assert cancelled.status_code == 200, cancelled.body
    assert cancelled.json_body["status"] == "cancelled"
    assert cancelled.json_body["cancellation"]["into_today"] == 0
    assert lots(member_id) == before and balance(member_id) == 300
    assert remaining(reward_id) == 10 and mall_repo.get(reward_id).redeemed == 0
    assert api.http.post(path, body=dumps({"reason": "again"}), headers=operator_headers()).status_code == 200
    assert len(list(points_repo.iter_member_entries(member_id, kind="mall_refund"))) == 1
    assert redeem(api, token, reward_id, "k3", address=ADDRESS).status_code == 201  # the limit was given back
    clean()


def test_points_of_a_lot_past_its_date_come_back_expiring_today(api: Api) -> None:
    reward_id = reward(api, points=150)
    token, member_id = member(api, "expired", 0)
    soon, kept = months_ago(12), months_ago(9)
    seed(member_id, 100, soon)  # expires at the end of this month
    seed(member_id, 100, kept)
    made = redeem(api, token, reward_id, address=ADDRESS).json_body
    later = date.fromisoformat(month_end(soon, 12)) + timedelta(days=4)
    clock.pin(datetime.combine(later, time(12), SHANGHAI))  # the first lot is past its date
    token, _ = api.login("expired")  # the old token has expired meanwhile

    cancelled = api.http.post(f"/v1/me/mall/redemptions/{made['redemption_id']}/cancel", body=dumps({"reason": "不要了"}),
                              headers=member_headers(token))  # fmt: skip

    assert cancelled.status_code == 200, cancelled.body
    assert cancelled.json_body["cancellation"] == {
        "cancelled_at": cancelled.json_body["cancellation"]["cancelled_at"],
        "cancelled_by": "member",
        "reason": "不要了",
        "into_today": 100,
    }
    assert lots(member_id) == {later.isoformat(): 100, month_end(kept, 12): 100}
    clean()


def test_a_refund_repays_debt_first(api: Api) -> None:
    reward_id = reward(api, points=100)
    token, member_id = member(api, "debtor", 100)
    made = redeem(api, token, reward_id, address=ADDRESS).json_body
    MemberModel(member_id).update(actions=[MemberModel.debt.set(30), MemberModel.balance.set(-30)])

    cancelled = api.http.post(f"/v1/me/mall/redemptions/{made['redemption_id']}/cancel", body=b"",
                              headers=member_headers(token))  # fmt: skip

    assert cancelled.status_code == 200, cancelled.body
    stored = MemberModel.get(member_id, consistent_read=True)
    assert (int(stored.balance), int(stored.debt)) == (70, 0)
    assert sum(lots(member_id).values()) == 70


def test_the_members_ledger_lists_the_refund(api: Api) -> None:
    reward_id = reward(api)
    token, _ = member(api, "ledger")
    made = redeem(api, token, reward_id, address=ADDRESS).json_body
    api.http.post(f"/v1/me/mall/redemptions/{made['redemption_id']}/cancel", body=b"", headers=member_headers(token))

    ledger = api.http.get("/v1/me/points/ledger", headers=member_headers(token))

    assert ledger.status_code == 200, ledger.body
    assert [entry["kind"] for entry in ledger.json_body["items"]][:2] == ["mall_refund", "redeem"]
