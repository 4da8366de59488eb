"""Checkout for POS and mall servers (收银结算): quote, confirm, cancel, through the API.

Attacks first: another member's coupon, another POS client's checkout, a replay and a reuse of
the order id, amounts that do not add up, more points or wallet than allowed, a quote that moved;
then what a counter does: the tier discount, the best coupon, points and wallet, line by line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.domain.wallet import EntryKind, WalletChange
from chalicelib.services.wallet import reconcile_wallet
from chalicelib.settings import get_settings
from chalicelib.store import coupons_repo, members_repo, points_repo, wallet_repo
from chalicelib.store.models import CheckoutModel
from chalicelib.store.tx import UnitOfWork
from tests.integration.test_coupon_redemption import held, template
from tests.support.api import POS_ID, Api, dumps, pos_headers
from tests.support.wallet import enable_wallet

QUOTE, CONFIRM = "/v1/checkout/quote", "/v1/checkout/confirm"
OTHER_POS = ("pos-2", "pos-secret-2")


def post(api: Api, path: str, payload: dict[str, Any], client: tuple[str, str] | None = None) -> Any:
    body = dumps(payload)
    return api.http.post(path, body=body, headers=pos_headers("POST", path, body, client=client))


def basket(member_id: str, order_id: str = "o-1", **changes: Any) -> dict[str, Any]:
    lines = [
        {"line_id": "l1", "sku": "coffee", "category": "drinks", "amount_fen": 20_000},
        {"line_id": "l2", "sku": "cake", "category": "food", "amount_fen": 10_000},
    ]
    return {"order_id": order_id, "member": {"member_id": member_id}, "store_id": "s1", "amount_fen": 30_000,
            "lines": lines, "coupon_codes": [], **changes}  # fmt: skip


def field(response: Any) -> str:
    return str(response.json_body["error"]["fields"][0]["field"])


def code(response: Any) -> str:
    return str(response.json_body["error"]["code"])


def fund(member_id: str, principal: int, bonus: int = 0) -> None:
    """Money in the wallet without WeChat Pay (test_wallet covers top-ups)."""
    tx = UnitOfWork(get_settings().region)
    change = WalletChange(EntryKind.TOPUP, f"topup:test-{member_id}", principal, bonus)
    wallet_repo.stage_change(tx, wallet_repo.get_wallet(member_id), change, "2026-01-01T00:00:00+00:00")
    tx.commit()


def republish(change: Callable[[dict[str, Any]], None]) -> None:
    """The programme in force, changed by `change`, as the next version."""
    from chalicelib.domain.programme import Programme
    from chalicelib.services import programme
    from chalicelib.store import programme_repo

    document = programme.current().model_dump(mode="json")
    change(document)
    valid = Programme.model_validate(document, strict=False).model_dump(mode="json")
    programme_repo.publish(programme_repo.current_version(), valid, "t", "tests", None)
    programme.forget()


def tier_discount(rate: int) -> None:
    """Every tier at `rate`% (95: 95折)."""

    def change(document: dict[str, Any]) -> None:
        for tier in document["tiers"]:
            tier["benefits"]["discount_rate"] = rate

    republish(change)


def earn(api: Api, member_id: str, amount_fen: int, order_id: str = "earned") -> None:
    response = api.order(order_id, {"member_id": member_id}, amount_fen)
    assert response.status_code == 200, response.body


@pytest.fixture
def member(api: Api) -> tuple[str, str]:
    enable_wallet()
    token, member_id = api.login("alice")
    earn(api, member_id, 500_000)  # 5,000 points
    return token, member_id


def snapshot(member_id: str) -> tuple[Any, ...]:
    m = members_repo.get_member(member_id)
    w = wallet_repo.get_wallet(member_id)
    coupons = sorted((c.coupon_id, str(c.status)) for c in coupons_repo.member_coupons(member_id))
    lots = sorted((lot.expires_on, lot.remaining) for lot in points_repo.load_lots(member_id))
    return m.balance, m.version, w.principal, w.bonus, tuple(coupons), tuple(lots), CheckoutModel.count()


# --- attacks ---------------------------------------------------------------------------------


def test_lines_that_do_not_add_up_are_400_naming_lines_and_write_nothing(api: Api, member: tuple[str, str]) -> None:
    _, member_id = member
    before = snapshot(member_id)
    response = post(api, CONFIRM, basket(member_id, amount_fen=29_999))
    assert response.status_code == 400 and field(response) == "lines"
    assert snapshot(member_id) == before


def test_more_points_or_wallet_than_held_or_allowed_is_refused_naming_the_field(
    api: Api, member: tuple[str, str]
) -> None:
    _, member_id = member
    fund(member_id, 1_000)
    before = snapshot(member_id)
    too_many = post(api, CONFIRM, basket(member_id, points=5_001))  # more than the member holds: 409
    too_much = post(api, CONFIRM, basket(member_id, wallet_fen=1_001))
    over_share = post(api, CONFIRM, basket(member_id, amount_fen=2_000, lines=[
        {"line_id": "l1", "sku": "tea", "amount_fen": 2_000}], points=1_001))  # fmt: skip  # half of ¥20 is 1,000
    negative = post(api, CONFIRM, basket(member_id, points=-1))
    by_phone = post(api, CONFIRM, {**basket(member_id, points=10), "member": {"phone": "13800001111"}})
    assert (too_many.status_code, code(too_many), field(too_many)) == (409, "insufficient_points", "points")
    assert (too_much.status_code, field(too_much)) == (409, "wallet_fen")
    assert (over_share.status_code, field(over_share)) == (400, "points")
    assert (negative.status_code, field(negative)) == (400, "points")
    assert (by_phone.status_code, code(by_phone)) == (400, "checkout_needs_member_code")
    assert snapshot(member_id) == before


def test_another_members_coupon_is_404_and_nothing_is_used(api: Api, member: tuple[str, str]) -> None:
    _, member_id = member
    template_id = template(api, "t1")
    _, bobs = held(api, "bob", template_id)
    response = post(api, CONFIRM, basket(member_id, coupon_codes=[bobs["code"]]))
    assert response.status_code == 404 and field(response) == "coupon_codes"
    assert coupons_repo.find_by_code(bobs["code"]).status == "unused"  # type: ignore[union-attr]


def test_a_replay_answers_the_first_checkout_and_a_reuse_of_the_order_id_is_409(
    api: Api, member: tuple[str, str]
) -> None:
    _, member_id = member
    first = post(api, CONFIRM, basket(member_id, points=1_000))
    again = post(api, CONFIRM, basket(member_id, points=1_000))
    other = post(api, CONFIRM, basket(member_id, points=2_000))
    assert first.status_code == 201 and again.status_code == 201
    assert again.json_body == first.json_body
    assert other.status_code == 409 and field(other) == "order_id"
    assert members_repo.get_member(member_id).balance == 4_000


def test_another_pos_clients_checkout_cannot_be_read_or_cancelled(api: Api, member: tuple[str, str]) -> None:
    _, member_id = member
    assert post(api, CONFIRM, basket(member_id, points=500)).status_code == 201
    path = "/v1/checkout/o-1/cancel"
    cancelled = post(api, path, {}, client=OTHER_POS)
    read = api.http.get("/v1/checkout/o-1", headers=pos_headers("GET", "/v1/checkout/o-1", b"", client=OTHER_POS))
    assert cancelled.status_code == 403 and read.status_code == 403
    assert members_repo.get_member(member_id).balance == 4_500


def test_a_quote_that_moved_is_409_and_nothing_is_taken(api: Api, member: tuple[str, str]) -> None:
    _, member_id = member
    quoted = post(api, QUOTE, basket(member_id, points=1_000)).json_body
    before = snapshot(member_id)
    response = post(api, CONFIRM, basket(member_id, points=1_000, expected_cash_fen=quoted["totals"]["cash_fen"] - 1))
    assert response.status_code == 409 and code(response) == "checkout_quote_changed"
    assert snapshot(member_id) == before


def test_an_order_reported_without_checkout_cannot_be_checked_out(api: Api, member: tuple[str, str]) -> None:
    _, member_id = member
    response = post(api, CONFIRM, basket(member_id, order_id="earned"))
    assert response.status_code == 409 and code(response) == "order_recorded"


# --- the counter -----------------------------------------------------------------------------


def test_quote_takes_the_tier_discount_the_best_coupon_and_shows_the_limits(api: Api, member: tuple[str, str]) -> None:
    _, member_id = member
    fund(member_id, 50_000, 5_000)
    small = template(api, "small", name="满100减10",
                     benefit={"kind": "amount_off", "threshold_fen": 10_000, "amount_off_fen": 1_000})  # fmt: skip
    big = template(api, "big")  # 满200减30
    token = api.login("alice")[0]
    from tests.support.api import member_headers

    for key, template_id in (("k1", small), ("k2", big)):
        claimed = api.http.post(
            f"/v1/coupons/{template_id}/claims", body=b"", headers=member_headers(token, **{"Idempotency-Key": key})
        )
        assert claimed.status_code == 201, claimed.body
    tier_discount(95)
    response = post(api, QUOTE, basket(member_id, coupon_codes=None, points=0))
    quote = response.json_body
    assert response.status_code == 200, response.body
    assert [c["name"] for c in quote["coupons"]] == ["满200减30"]
    totals = quote["totals"]
    assert totals["tier_discount_fen"] == 1_500  # 95折 on each line: 1,000 + 500
    assert totals["coupon_fen"] == 3_000
    assert totals["amount_fen"] == sum(
        totals[part] for part in ("tier_discount_fen", "coupon_fen", "points_fen", "wallet_fen", "cash_fen")
    )
    assert quote["points_max"] == min(5_000, (30_000 - totals["tier_discount_fen"] - 3_000) // 2)
    assert quote["wallet_usable_fen"] == 30_000 - totals["tier_discount_fen"] - 3_000
    for line in quote["lines"]:
        parts = ("tier_discount_fen", "coupon_fen", "points_fen", "wallet_fen", "cash_fen")
        assert line["amount_fen"] == sum(line[part] for part in parts)
    assert snapshot(member_id)[-1] == 0  # a quote writes nothing


def test_confirm_takes_coupon_points_and_wallet_together_and_cancel_gives_exactly_them_back(
    api: Api, member: tuple[str, str]
) -> None:
    _, member_id = member
    fund(member_id, 8_000, 2_000)
    template_id = template(api, "t1")
    _, coupon = held(api, "alice", template_id)
    before = snapshot(member_id)
    ask = basket(member_id, coupon_codes=[coupon["code"]], points=2_000, wallet_fen=10_000)

    response = post(api, CONFIRM, ask)

    assert response.status_code == 201, response.body
    body = response.json_body
    assert body["status"] == "completed"
    assert body["totals"]["coupon_fen"] == 3_000 and body["totals"]["points_fen"] == 2_000
    assert body["totals"]["cash_fen"] == 30_000 - body["totals"]["tier_discount_fen"] - 3_000 - 2_000 - 10_000
    assert (body["wallet_principal_fen"], body["wallet_bonus_fen"]) == (8_000, 2_000)  # principal first
    assert members_repo.get_member(member_id).balance == 3_000
    assert coupons_repo.find_by_code(coupon["code"]).status == "used"  # type: ignore[union-attr]
    assert wallet_repo.get_wallet(member_id).balances.total == 0

    cancelled = post(api, "/v1/checkout/o-1/cancel", {})
    again = post(api, "/v1/checkout/o-1/cancel", {})

    assert cancelled.status_code == 200 and cancelled.json_body["status"] == "cancelled"
    assert again.json_body == cancelled.json_body
    after = snapshot(member_id)
    assert after[0] == before[0] and after[2:4] == before[2:4] and after[5] == before[5]  # points, wallet, lots
    assert coupons_repo.find_by_code(coupon["code"]).usable_at(__import__("chalicelib.clock").clock.utc_now())  # type: ignore[union-attr]
    assert reconcile_wallet(member_id) is None


def test_a_pos_client_is_the_one_in_the_signature(api: Api, member: tuple[str, str]) -> None:
    _, member_id = member
    response = post(api, CONFIRM, basket(member_id, points=100))
    assert response.status_code == 201
    assert CheckoutModel.get("o-1").pos_client == POS_ID


def test_a_captured_confirm_replayed_late_or_signed_for_the_future_is_401_and_takes_nothing(
    api: Api, member: tuple[str, str]
) -> None:
    from chalicelib.clock import epoch_seconds

    _, member_id = member
    body = dumps(basket(member_id, points=1_000))
    before = snapshot(member_id)
    stale = pos_headers("POST", CONFIRM, body, timestamp=int(epoch_seconds()) - 3_600)
    ahead = pos_headers("POST", CONFIRM, body, timestamp=int(epoch_seconds()) + 3_600)
    tampered = {**pos_headers("POST", CONFIRM, body), "X-Signature": "0" * 64}

    answers = [api.http.post(CONFIRM, body=body, headers=h).status_code for h in (stale, ahead, tampered)]

    assert answers == [401, 401, 401]
    assert snapshot(member_id) == before
