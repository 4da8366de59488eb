"""The points mall (积分商城) through the API: rewards in the console, the mall as a member sees
it, redemptions of each kind, fulfilments, and cancels that give the points back into their lots.

Attacks first: another member's redemption, tampered quantities, a physical gift without an
address, a member outside the tier or below the programme's minimum, replays and reused keys;
then what operators and members do. The ledger reconciles after every test that moves points."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.services import points
from chalicelib.services.reconcile import reconcile
from chalicelib.store import mall_repo
from chalicelib.store.models import AuditModel, MallRedemptionModel, MemberModel, PointsLotModel
from tests.support.api import Api, dumps, member_headers, operator_headers
from tests.support.programme import publish_with

ADDRESS = {"name": "张三", "phone": "13812345678", "region": "广东省 深圳市 南山区", "detail": "科技园路1号"}


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "保温杯", "item": {"kind": "physical", "stock": 10}, "points": 100}
    return {**data, **changes}


def create(api: Api, key: str = "r1", operator: str = "alice", **changes: Any) -> Any:
    headers = {**operator_headers(operator), "Idempotency-Key": key}
    return api.http.post("/admin/mall/rewards", body=dumps(body(**changes)), headers=headers)


def reward(api: Api, key: str = "r1", **changes: Any) -> str:
    response = create(api, key, **changes)
    assert response.status_code == 201, response.body
    return str(response.json_body["reward_id"])


def seed(member_id: str, amount: int, earned_on: date | None = None) -> None:
    """Points earned on `earned_on` (rolling:12: they expire at the end of that month next year)."""
    op = points.operation(f"seed:{member_id}:{earned_on}:{amount}", {"points": amount}, clock.utc_now())
    points.earn_with_growth(member_id, amount, 0, op, earned_on=earned_on)


def months_ago(months: int) -> date:
    """The 10th of the month `months` before this one (Shanghai): under rolling:12 its lot expires at the
    end of the month 12 - `months` from now, whatever day the suite runs on (WXM_TEST_NOW)."""
    today = clock.local_date(clock.utc_now(), "Asia/Shanghai")
    index = today.year * 12 + today.month - 1 - months
    return date(index // 12, index % 12 + 1, 10)


def month_end(day: date, months: int = 0) -> str:
    index = day.year * 12 + day.month - 1 + months
    following = date((index + 1) // 12, (index + 1) % 12 + 1, 1)
    return (following - timedelta(days=1)).isoformat()


def member(api: Api, name: str, amount: int = 1000) -> tuple[str, str]:
    token, member_id = api.login(name)
    if amount:
        seed(member_id, amount)
    return token, member_id


def redeem(api: Api, token: str, reward_id: str, key: str = "k1", **extra: Any) -> Any:
    payload = {"reward_id": reward_id, **extra}
    headers = member_headers(token, **{"Idempotency-Key": key})
    return api.http.post("/v1/mall/redemptions", body=dumps(payload), headers=headers)


def error(response: Any) -> tuple[int, str, list[str]]:
    found = response.json_body["error"]
    return response.status_code, found["code"], [item["field"] for item in found["fields"]]


def balance(member_id: str) -> int:
    return int(MemberModel.get(member_id, consistent_read=True).balance)


def lots(member_id: str) -> dict[str, int]:
    return {lot.expires_on: int(lot.remaining) for lot in PointsLotModel.query(member_id, consistent_read=True)}


def remaining(reward_id: str) -> int:
    return mall_repo.get(reward_id).remaining


def clean() -> None:
    assert list(reconcile()) == []


# --- attacks -------------------------------------------------------------------------


def test_another_members_redemption_is_404_to_read_and_to_cancel(api: Api) -> None:
    reward_id = reward(api)
    owner, _ = member(api, "owner")
    thief, _ = member(api, "thief")
    made = redeem(api, owner, reward_id, address=ADDRESS).json_body["redemption_id"]

    path = f"/v1/me/mall/redemptions/{made}"
    assert error(api.http.get(path, headers=member_headers(thief))) == (404, "mall_not_found", ["redemption_id"])
    cancel = api.http.post(path + "/cancel", body=b"", headers=member_headers(thief))
    assert error(cancel) == (404, "mall_not_found", ["redemption_id"])
    assert api.http.get("/v1/me/mall/redemptions", headers=member_headers(thief)).json_body["items"] == []
    assert api.http.get(path, headers=member_headers(owner)).json_body["status"] == "pending"
    clean()


@pytest.mark.parametrize("quantity", [0, -1, -(10**9), 10**9, 11, "2", 1.5, None, True])
def test_a_tampered_quantity_is_400_naming_quantity_and_writes_nothing(api: Api, quantity: Any) -> None:
    reward_id = reward(api, item={"kind": "physical", "stock": 10, "max_quantity": 10})
    token, member_id = member(api, "tamper")

    response = redeem(api, token, reward_id, quantity=quantity, address=ADDRESS)

    assert error(response)[0::2] == (400, ["quantity"]), response.body
    assert balance(member_id) == 1000 and remaining(reward_id) == 10


def test_a_quantity_above_the_rewards_own_maximum_is_400_naming_quantity(api: Api) -> None:
    gift = reward(api, "gift", item={"kind": "physical", "stock": 10, "max_quantity": 2})
    coupon_like = reward(api, "code", item={"kind": "partner_code", "partner": "视频会员"})
    token, member_id = member(api, "greedy")

    assert error(redeem(api, token, gift, quantity=3, address=ADDRESS)) == (400, "invalid_request", ["quantity"])
    assert error(redeem(api, token, coupon_like, "k2", quantity=2)) == (400, "invalid_request", ["quantity"])
    assert redeem(api, token, gift, "k3", quantity=2, address=ADDRESS).status_code == 201
    assert balance(member_id) == 800 and remaining(gift) == 8
    clean()


def test_a_physical_gift_needs_a_valid_address_and_nothing_else_takes_one(api: Api) -> None:
    gift = reward(api, "gift")
    code = reward(api, "code", item={"kind": "partner_code", "partner": "视频会员"})
    token, member_id = member(api, "addr")

    assert error(redeem(api, token, gift)) == (400, "invalid_request", ["address"])
    bad_phone = {**ADDRESS, "phone": "1234"}
    assert error(redeem(api, token, gift, "k2", address=bad_phone))[0::2] == (400, ["address.phone"])
    assert error(redeem(api, token, gift, "k3", address={**ADDRESS, "detail": ""}))[0::2] == (400, ["address.detail"])
    assert error(redeem(api, token, code, "k4", address=ADDRESS)) == (400, "invalid_request", ["address"])
    assert balance(member_id) == 1000 and remaining(gift) == 10


def test_a_member_outside_the_tier_is_403_naming_tiers(api: Api) -> None:
    reward_id = reward(api, tiers=["gold", "black"])
    normal, _ = member(api, "normal")
    gold, gold_id = member(api, "gold")
    MemberModel(gold_id).update(actions=[MemberModel.tier_code.set("gold")])

    assert error(redeem(api, normal, reward_id, address=ADDRESS)) == (403, "mall_tier_restricted", ["tiers"])
    assert redeem(api, gold, reward_id, address=ADDRESS).status_code == 201
    offer = api.http.get("/v1/mall/rewards", headers=member_headers(normal)).json_body["items"][0]
    assert offer["redeemable"] is False and offer["refusal"] == "mall_tier_restricted"
    assert "仅限金卡、黑金会员兑换" in offer["rules"]


def test_a_member_below_the_programmes_minimum_balance_cannot_redeem(api: Api) -> None:
    publish_with("points", {"min_redeem_points": 500})
    reward_id = reward(api)
    poor, poor_id = member(api, "poor", 300)
    rich, rich_id = member(api, "rich", 500)

    assert error(redeem(api, poor, reward_id, address=ADDRESS)) == (409, "mall_below_min_balance", ["points"])
    assert redeem(api, rich, reward_id, address=ADDRESS).status_code == 201
    assert (balance(poor_id), balance(rich_id)) == (300, 400)
    offer = api.http.get("/v1/mall/rewards", headers=member_headers(poor)).json_body["items"][0]
    assert offer["refusal"] == "mall_below_min_balance" and offer["refusal_message"] == "积分余额未达到兑换门槛"
    clean()


def test_a_replay_answers_the_same_redemption_and_another_request_under_the_key_is_409(api: Api) -> None:
    reward_id = reward(api)
    token, member_id = member(api, "replay")

    first = redeem(api, token, reward_id, address=ADDRESS)
    again = redeem(api, token, reward_id, address=ADDRESS)
    other = redeem(api, token, reward_id, quantity=1, address={**ADDRESS, "detail": "另一个地址"})

    assert first.status_code == again.status_code == 201
    assert first.json_body == again.json_body
    assert error(other) == (409, "idempotency_key_reused", ["Idempotency-Key"])
    assert balance(member_id) == 900 and remaining(reward_id) == 9
    assert len(list(MallRedemptionModel.query(member_id))) == 1
    clean()


def test_a_replay_after_the_reward_sold_out_and_was_paused_still_answers_the_first(api: Api) -> None:
    reward_id = reward(api, item={"kind": "physical", "stock": 1})
    token, _ = member(api, "late-replay")
    first = redeem(api, token, reward_id, address=ADDRESS)
    api.http.post(f"/admin/mall/rewards/{reward_id}/pause", body=b"", headers=operator_headers())

    again = redeem(api, token, reward_id, address=ADDRESS)

    assert again.status_code == 201 and again.json_body == first.json_body


def test_not_enough_points_sold_out_paused_and_cash_coupons_are_409_with_their_codes(api: Api) -> None:
    token, member_id = member(api, "refusals", 150)
    dear = reward(api, "dear", points=200)
    last = reward(api, "last", item={"kind": "physical", "stock": 1})
    paused = reward(api, "paused")
    cash = reward(api, "cash", cash_fen=990)
    coupon_cash = reward(api, "cash-code", item={"kind": "partner_code", "partner": "视频"}, cash_fen=990)
    api.http.post(f"/admin/mall/rewards/{paused}/pause", body=b"", headers=operator_headers())
    assert redeem(api, token, last, "k0", address=ADDRESS).status_code == 201

    assert error(redeem(api, token, dear, "k1", address=ADDRESS))[:2] == (409, "insufficient_points")
    assert error(redeem(api, token, last, "k2", address=ADDRESS)) == (409, "mall_sold_out", ["reward_id"])
    assert error(redeem(api, token, paused, "k3", address=ADDRESS)) == (409, "mall_reward_paused", ["status"])
    assert error(redeem(api, token, coupon_cash, "k4")) == (409, "mall_cash_physical_only", ["cash_fen"])
    assert error(redeem(api, token, "rw_nothing", "k5", address=ADDRESS)) == (404, "mall_not_found", ["reward_id"])
    assert balance(member_id) == 50
    offers = {
        o["reward_id"]: o for o in api.http.get("/v1/mall/rewards", headers=member_headers(token)).json_body["items"]
    }
    assert offers[cash]["price"] == "100积分+¥9.9" and offers[cash]["refusal"] == "insufficient_points"  # not refused
    assert offers[coupon_cash]["refusal"] == "mall_cash_physical_only"
    assert offers[last]["sold_out"] is True and offers[paused]["refusal"] == "mall_reward_paused"
    clean()


def test_windows_hide_a_reward_before_it_is_shown_and_refuse_it_outside_its_redeem_window(api: Api) -> None:
    now = clock.utc_now()
    hidden = reward(api, "hidden", visible_from=(now + timedelta(days=1)).isoformat())
    early = reward(api, "early", redeem_from=(now + timedelta(hours=1)).isoformat())
    over = reward(api, "over", redeem_until=(now - timedelta(seconds=1)).isoformat())
    token, _ = member(api, "window")

    shown = [o["reward_id"] for o in api.http.get("/v1/mall/rewards", headers=member_headers(token)).json_body["items"]]
    assert hidden not in shown and {early, over} <= set(shown)
    assert error(redeem(api, token, hidden, "k1", address=ADDRESS)) == (409, "mall_not_started", ["visible_from"])
    assert error(redeem(api, token, early, "k2", address=ADDRESS)) == (409, "mall_not_started", ["redeem_from"])
    assert error(redeem(api, token, over, "k3", address=ADDRESS)) == (409, "mall_ended", ["redeem_until"])
    clock.pin(now + timedelta(hours=1))
    assert redeem(api, token, early, "k4", address=ADDRESS).status_code == 201


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"per_member_limit": 1, "per_period_limit": 2}, "per_period_limit"),
        ({"redeem_from": "2026-12-02T00:00:00+08:00", "redeem_until": "2026-12-01T23:59:59+08:00"}, "redeem_until"),
        ({"visible_until": "2026-12-01T23:59:59+08:00", "redeem_until": "2026-12-02T23:59:59+08:00"}, "redeem_until"),
        ({"visible_from": "2026-12-02T00:00:00+08:00", "redeem_from": "2026-12-01T00:00:00+08:00"}, "redeem_from"),
        ({"redeem_from": "2026-12-02T00:00:00"}, "redeem_from"),  # no offset: whose midnight?
        ({"tiers": ["gold", "gold"]}, "tiers"),
        ({"tiers": ["platinum"]}, "tiers"),
        ({"points": 0}, "points"),
        ({"item": {"kind": "physical", "stock": 0}}, "item.physical.stock"),
        ({"item": {"kind": "partner_code", "partner": "x", "stock": 5}}, "item.partner_code.stock"),
        ({"item": {"kind": "coupon", "coupon_template_id": "ct_none", "stock": 5}}, "item.coupon_template_id"),
        ({"item": {"kind": "voucher"}}, "item"),
        ({"cash_fen": -1}, "cash_fen"),
    ],
)
def test_a_bad_definition_is_400_naming_its_field(api: Api, changes: dict[str, Any], field: str) -> None:
    response = create(api, **changes)
    status, _, fields = error(response)
    assert (status, fields) == (400, [field]), response.body
    assert mall_repo.listing(10) == []


# --- the console ---------------------------------------------------------------------------


def test_an_edit_from_a_stale_version_is_409_and_the_stock_never_goes_below_what_was_redeemed(api: Api) -> None:
    reward_id = reward(api, item={"kind": "physical", "stock": 5})
    token, _ = member(api, "stock")
    assert redeem(api, token, reward_id, quantity=1, address=ADDRESS).status_code == 201
    headers = operator_headers("bob")
    path = f"/admin/mall/rewards/{reward_id}"

    def edit(version: int, **changes: Any) -> Any:
        return api.http.put(path, body=dumps({**body(**changes), "version": version}), headers=headers)

    raised = edit(1, item={"kind": "physical", "stock": 8}, points=120)
    assert raised.status_code == 200, raised.body
    assert raised.json_body["stock"] == {"stock": 8, "redeemed": 1, "remaining": 7}
    assert error(edit(1, points=90)) == (409, "mall_version_conflict", ["version"])
    low = edit(2, item={"kind": "physical", "stock": 1}, points=120)
    assert low.status_code == 200 and low.json_body["stock"] == {"stock": 1, "redeemed": 1, "remaining": 0}
    assert error(edit(3, item={"kind": "partner_code", "partner": "x"})) == (409, "mall_kind_fixed", ["item.kind"])
    assert mall_repo.get(reward_id).definition.points == 120
    entries = [item for item in AuditModel.scan() if item.target == f"reward:{reward_id}"]
    assert len(entries) == 3  # the create and two edits: refusals write nothing


def test_the_auditor_reads_the_console_and_cannot_write(api: Api) -> None:
    reward_id = reward(api)
    reader = operator_headers("erin")

    assert api.http.get("/admin/mall/rewards", headers=reader).json_body["items"][0]["reward_id"] == reward_id
    assert api.http.post(f"/admin/mall/rewards/{reward_id}/pause", body=b"", headers=reader).status_code == 403


def test_a_coupon_reward_issues_the_coupon_in_the_same_transaction_as_the_points(api: Api) -> None:
    template = api.http.post(
        "/admin/coupon-templates",
        body=dumps({"name": "满100减10", "benefit": {"kind": "amount_off", "threshold_fen": 10000, "amount_off_fen": 1000},
                    "validity": {"kind": "days_after_claim", "days": 30}, "stock": 1, "per_member_limit": 1}),
        headers={**operator_headers(), "Idempotency-Key": "t1"},
    ).json_body["template_id"]  # fmt: skip
    reward_id = reward(api, item={"kind": "coupon", "coupon_template_id": template, "stock": 5})
    token, member_id = member(api, "couponer")
    other, other_id = member(api, "second")

    made = redeem(api, token, reward_id)

    assert made.status_code == 201, made.body
    code = made.json_body["coupon"]["code"]
    mine = api.http.get("/v1/me/coupons", headers=member_headers(token)).json_body["items"]
    assert [c["code"] for c in mine] == [code] and mine[0]["template_id"] == template
    assert made.json_body["status"] == "issued" and balance(member_id) == 900
    # The template's own stock (1) is gone: the next member hears 已兑完, and keeps their points.
    assert error(redeem(api, other, reward_id)) == (409, "mall_sold_out", ["reward_id"])
    assert balance(other_id) == 1000 and remaining(reward_id) == 4
    cancel = api.http.post(f"/v1/me/mall/redemptions/{made.json_body['redemption_id']}/cancel", body=b"",
                           headers=member_headers(token))  # fmt: skip
    assert error(cancel)[:2] == (409, "mall_not_physical")
    clean()


def test_partner_codes_are_uploaded_once_and_each_goes_to_one_member(api: Api) -> None:
    reward_id = reward(api, item={"kind": "partner_code", "partner": "视频会员", "instructions": "在App内兑换"})
    path = f"/admin/mall/rewards/{reward_id}/codes"
    codes = ["CODE-0001", "CODE-0002", "CODE-0001"]

    first = api.http.post(path, body=dumps({"codes": codes}), headers=operator_headers())
    again = api.http.post(path, body=dumps({"codes": codes[:2]}), headers=operator_headers())

    assert first.json_body == {"added": 2, "duplicates": ["CODE-0001"], "remaining": 2}
    assert again.json_body == {"added": 0, "duplicates": ["CODE-0001", "CODE-0002"], "remaining": 2}
    got = [redeem(api, member(api, f"c{n}")[0], reward_id).json_body.get("partner_code") for n in range(2)]
    assert sorted(got) == ["CODE-0001", "CODE-0002"]
    late, _ = member(api, "late")
    assert error(redeem(api, late, reward_id)) == (409, "mall_sold_out", ["reward_id"])
    assert error(api.http.post(path.replace(reward_id, reward(api, "phys")), body=dumps({"codes": ["CODE-0009"]}),
                               headers=operator_headers()))[:2] == (409, "mall_not_partner_code")  # fmt: skip
    clean()


def test_every_mall_error_code_has_a_text_in_the_members_language() -> None:
    import json
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    messages = json.loads((root / "chalicelib" / "config" / "messages.zh-CN.json").read_text(encoding="utf-8"))
    sources = [path.read_text(encoding="utf-8") for path in (root / "chalicelib").rglob("mall*.py")]
    codes = {code for text in sources for code in re.findall(r'"(mall_[a-z_]+)"', text)} - {"mall_refund"}

    assert len(codes) >= 15
    assert sorted(code for code in codes if code not in messages) == []
