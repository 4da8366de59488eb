"""Points gift (积分转赠) through the API: the giver is the token's member, the points keep their
expiry dates, both ledgers name the other side, a replay is the same gift, the programme's
switch and daily limit hold, and a refund of the giver's source order leaves the gift where it is."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.domain import ledger as kinds
from chalicelib.domain.points import parse_expiry_policy
from chalicelib.domain.programme import Programme
from chalicelib.domain.tiers import add_months
from chalicelib.services import gifts, identity, member_codes, points, privacy_deletion, programme
from chalicelib.services.reconcile import reconcile
from chalicelib.store import members_repo, points_repo, programme_repo
from chalicelib.store.models import LedgerEntryModel, PointsLotModel
from tests.support.api import SHANGHAI, Api, dumps, member_headers


def _enable(**rules: Any) -> None:
    _publish(enabled=True, **rules)


def _publish(**rules: Any) -> None:
    """The configured programme with these gift rules, as the next version."""
    document = programme.configured().model_dump(mode="json")
    document["gift"] = {**document["gift"], **rules}
    valid = Programme.model_validate(document, strict=False).model_dump(mode="json")
    programme_repo.publish(programme_repo.current_version(), valid, "t", "tests", None)
    programme.forget()


def _code(member_id: str) -> str:
    return member_codes.code_of(member_id, clock.utc_now())


def _gift(api: Api, token: str, to_code: str, points_: int, key: str = "g-1", **extra: Any) -> Any:
    body = dumps({"to_code": to_code, "points": points_, **extra})
    return api.http.post("/v1/me/gifts", body=body, headers=member_headers(token, **{"Idempotency-Key": key}))


def _seed(member_id: str, points_: int, earned_on: date | None = None) -> None:
    """Points earned on `earned_on` (rolling:12: they expire at the end of that month next year)."""
    op = points.operation(f"seed:{member_id}:{earned_on}", {"points": points_}, clock.utc_now())
    points.earn_with_growth(member_id, points_, 0, op, earned_on=earned_on)


def _lots(member_id: str) -> dict[str, int]:
    return {lot.expires_on: int(lot.remaining) for lot in PointsLotModel.query(member_id, consistent_read=True)}


def _entries(member_id: str, kind: str) -> list[Any]:
    return list(points_repo.iter_member_entries(member_id, kind=kind))


def _pair(api: Api, giver: str = "giver", recipient: str = "taker") -> tuple[str, str, str, str]:
    token_g, g = api.login(giver)
    token_r, r = api.login(recipient)
    return token_g, g, token_r, r


def _writes() -> int:
    return sum(1 for _ in LedgerEntryModel.scan())


# --- the gift keeps the giver's expiry dates ----------------------------------------------------------


def _months_ago(months: int) -> date:
    """The 1st of the month `months` before the pinned day (Shanghai): never ahead of it."""
    return add_months(clock.local_date(clock.utc_now(), "Asia/Shanghai").replace(day=1), -months)


def _expiry(earned_on: date) -> str:
    return parse_expiry_policy("rolling:12").expires_on(earned_on).isoformat()


def test_a_gift_moves_the_givers_lots_of_three_dates_with_their_dates(api: Api) -> None:
    _enable()
    token_g, g, _, r = _pair(api)
    days = [_months_ago(2), _months_ago(1), _months_ago(0)]
    for day, points_ in zip(days, (30, 40, 50), strict=True):
        _seed(g, points_, day)
    _seed(r, 5, days[1])  # the recipient already holds a lot of one of the dates
    first, second, third = (_expiry(day) for day in days)

    response = _gift(api, token_g, _code(r), 100)

    assert response.status_code == 201, response.body
    body = response.json_body
    assert body["points"] == 100 and body["balance"] == 20
    assert body["lots"] == [
        {"expires_on": first, "points": 30},
        {"expires_on": second, "points": 40},
        {"expires_on": third, "points": 30},
    ]
    assert _lots(r) == {first: 30, second: 45, third: 30}
    assert _lots(g) == {third: 20}
    assert members_repo.get_member(r).balance == 105
    assert list(reconcile([g, r])) == []


def test_both_ledgers_show_the_gift_naming_the_other_side_by_code_and_masked_nickname(api: Api) -> None:
    _enable()
    token_g, g, token_r, r = _pair(api)
    for token, name in ((token_g, "李小龙"), (token_r, "王菲")):
        api.http.patch("/v1/me", body=dumps({"nickname": name}), headers=member_headers(token))
    _seed(g, 50)

    body = _gift(api, token_g, _code(r).lower(), 20, message="生日快乐").json_body

    assert body["to"] == {"code": _code(r), "nickname": "王**"}
    (out,) = _entries(g, kinds.GIFT_OUT)
    (received,) = _entries(r, kinds.GIFT_IN)
    assert (out.delta, out.reason, received.delta, received.reason) == (-20, "gift", 20, "gift")
    assert out.detail["to"] == {"code": _code(r), "nickname": "王**"}
    assert received.detail["from"] == {"code": _code(g), "nickname": "李**"}
    assert out.detail["gift_id"] == received.detail["gift_id"] == body["gift_id"]
    assert out.detail["lots"] == received.detail["lots"] == body["lots"]
    assert out.detail["message"] == received.detail["message"] == "生日快乐"
    assert g not in received.entry_id and g not in received.detail["gift_id"], "the recipient never sees the giver's id"
    assert gifts.explanation(out) == f"转赠给 {_code(r)}（王**）"
    assert gifts.explanation(received) == f"收到 {_code(g)}（李**）的转赠"


def test_the_member_ledgers_list_the_gift_on_both_sides(api: Api) -> None:
    _enable()
    token_g, g, token_r, r = _pair(api)
    _seed(g, 50)
    assert _gift(api, token_g, _code(r), 20).status_code == 201

    sent = api.http.get("/v1/me/points/ledger", headers=member_headers(token_g))
    received = api.http.get("/v1/me/points/ledger", headers=member_headers(token_r))

    assert sent.status_code == 200 and received.status_code == 200, (sent.body, received.body)
    assert (sent.json_body["items"][0]["kind"], sent.json_body["items"][0]["points"]) == ("gift_out", -20)
    assert (received.json_body["items"][0]["kind"], received.json_body["items"][0]["points"]) == ("gift_in", 20)


# --- who gives, and replays ---------------------------------------------------------------------------


def test_the_giver_is_always_the_tokens_member(api: Api) -> None:
    _enable()
    token_g, g, token_r, r = _pair(api)
    _, other = api.login("bystander")
    _seed(other, 500)
    _seed(r, 10)

    named = _gift(api, token_r, _code(g), 5, member_id=other)
    from_self = _gift(api, token_r, _code(g), 5, key="g-2")

    assert named.status_code == 400 and named.json_body["error"]["fields"][0]["field"] == "member_id"
    assert from_self.status_code == 201 and from_self.json_body["balance"] == 5
    assert members_repo.get_member(other).balance == 500
    assert list(reconcile([g, r, other])) == []


def test_a_replay_with_the_same_key_is_the_same_gift_and_moves_nothing_again(api: Api) -> None:
    _enable()
    token_g, g, _, r = _pair(api)
    _seed(g, 100)
    first = _gift(api, token_g, _code(r), 30)

    again = [_gift(api, token_g, _code(r), 30) for _ in range(2)]
    _publish(enabled=False)  # the recorded gift still answers a replay
    after_switch = _gift(api, token_g, _code(r), 30)

    assert first.status_code == 201
    assert [a.status_code for a in [*again, after_switch]] == [201, 201, 201]
    assert all(a.json_body == first.json_body for a in [*again, after_switch])
    assert members_repo.get_member(g).balance == 70 and members_repo.get_member(r).balance == 30
    assert len(_entries(r, kinds.GIFT_IN)) == 1


def test_the_same_key_with_another_body_is_409_naming_idempotency_key(api: Api) -> None:
    _enable()
    token_g, g, _, r = _pair(api)
    _seed(g, 100)
    assert _gift(api, token_g, _code(r), 30).status_code == 201

    reused = _gift(api, token_g, _code(r), 31)

    assert reused.status_code == 409
    assert reused.json_body["error"]["code"] == "idempotency_key_reused"
    assert reused.json_body["error"]["fields"][0]["field"] == "Idempotency-Key"
    assert members_repo.get_member(g).balance == 70


def test_a_gift_needs_an_idempotency_key(api: Api) -> None:
    _enable()
    token_g, g, _, r = _pair(api)
    _seed(g, 100)
    body = dumps({"to_code": _code(r), "points": 1})
    response = api.http.post("/v1/me/gifts", body=body, headers=member_headers(token_g))
    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == "Idempotency-Key"


# --- refusals, each naming its field and writing nothing ----------------------------------------------


def test_gifts_are_off_until_the_programme_offers_them(api: Api) -> None:
    token_g, g, _, r = _pair(api)
    _seed(g, 100)
    response = _gift(api, token_g, _code(r), 10)
    assert response.status_code == 403 and response.json_body["error"]["code"] == "gift_disabled"
    assert response.json_body["error"]["message"] == "积分转赠暂未开放"
    assert members_repo.get_member(g).balance == 100


def _mistyped(code: str) -> str:
    alphabet = member_codes.ALPHABET
    return code[:8] + alphabet[(alphabet.index(code[8]) + 1) % len(alphabet)]


def _unknown(_: str) -> str:
    return "ZZZZZZZZ" + member_codes.check_character("ZZZZZZZZ")


@pytest.mark.parametrize(
    ("to_code", "points_", "status", "field", "code"),
    [
        (lambda c: c[:8], 10, 400, "to_code", "invalid_request"),
        (lambda c: c[:8] + "U", 10, 400, "to_code", "invalid_request"),
        (_mistyped, 10, 400, "to_code", "invalid_request"),
        (_unknown, 10, 404, "to_code", "member_not_found"),
        (lambda c: c, 0, 400, "points", "invalid_request"),
        (lambda c: c, -3, 400, "points", "invalid_request"),
        (lambda c: c, 101, 409, "points", "insufficient_points"),
        (lambda c: c, 10**9, 400, "points", "invalid_request"),
    ],
    ids=["short", "not-base32", "mistyped", "unknown", "zero", "negative", "over-balance", "huge"],
)
def test_a_bad_gift_is_refused_naming_the_field_and_writes_nothing(
    api: Api, to_code: Any, points_: int, status: int, field: str, code: str
) -> None:
    _enable()
    token_g, g, _, r = _pair(api)
    _seed(g, 100)
    before = _writes()

    response = _gift(api, token_g, to_code(_code(r)), points_)

    assert response.status_code == status, response.body
    assert response.json_body["error"]["code"] == code
    assert [f["field"] for f in response.json_body["error"]["fields"]] == [field]
    assert _writes() == before
    assert list(reconcile([g, r])) == []


def test_a_gift_to_oneself_is_refused(api: Api) -> None:
    _enable()
    token_g, g, _, _ = _pair(api)
    _seed(g, 100)
    response = _gift(api, token_g, _code(g), 10)
    assert response.status_code == 400 and response.json_body["error"]["code"] == "gift_to_self"
    assert response.json_body["error"]["fields"][0]["field"] == "to_code"
    assert members_repo.get_member(g).balance == 100


def test_a_member_merged_into_the_giver_is_the_giver(api: Api) -> None:
    _enable()
    token_g, g = api.login("merger")
    _, r = _login_nounion(api, "merged")  # another WeChat user to the demo login: an operator merge
    recipient_code = _code(r)
    _seed(g, 100)
    identity.merge_members(g, r, trigger="operator", now=clock.utc_now(), operator="alice")

    response = _gift(api, token_g, recipient_code, 10)

    assert response.status_code == 400 and response.json_body["error"]["code"] == "gift_to_self"
    assert members_repo.get_member(g).balance == 100


def _login_nounion(api: Api, name: str) -> tuple[str, str]:
    response = api.http.post(
        "/v1/auth/login", body=dumps({"code": f"nounion:{name}"}), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.body
    return response.json_body["token"], response.json_body["member_id"]


def test_a_closed_account_receives_no_gift(api: Api) -> None:
    _enable()
    token_g, g, _, r = _pair(api)
    recipient_code = _code(r)
    _seed(g, 100)
    privacy_deletion.delete_member(r, "alice", clock.utc_now())

    response = _gift(api, token_g, recipient_code, 10)

    assert response.status_code == 404 and response.json_body["error"]["fields"][0]["field"] == "to_code"
    assert members_repo.get_member(g).balance == 100


def test_the_programme_bounds_one_gift(api: Api) -> None:
    _enable(min_points=10, per_gift_max_points=50)
    token_g, g, _, r = _pair(api)
    _seed(g, 100)
    small, large = _gift(api, token_g, _code(r), 9, key="s"), _gift(api, token_g, _code(r), 51, key="l")
    assert [small.status_code, large.status_code] == [400, 400]
    assert {f["field"] for x in (small, large) for f in x.json_body["error"]["fields"]} == {"points"}
    assert _gift(api, token_g, _code(r), 50, key="ok").status_code == 201


def test_a_message_with_control_characters_is_refused(api: Api) -> None:
    _enable()
    token_g, g, _, r = _pair(api)
    _seed(g, 100)
    response = _gift(api, token_g, _code(r), 10, message="hi\u0007")
    assert response.status_code == 400 and response.json_body["error"]["fields"][0]["field"] == "message"


# --- the daily limit, per giver per Shanghai day ------------------------------------------------------


def test_the_daily_limit_counts_the_givers_gifts_of_the_shanghai_day(api: Api) -> None:
    _enable(daily_limit_points=100)
    clock.pin(datetime(2026, 11, 22, 23, 0, tzinfo=SHANGHAI))
    token_g, g, _, r = _pair(api)
    _, r2 = api.login("second-taker")
    _seed(g, 500)

    first = _gift(api, token_g, _code(r), 70, key="d1")
    over = _gift(api, token_g, _code(r2), 31, key="d2")  # another recipient: the limit is the giver's
    rest = _gift(api, token_g, _code(r2), 30, key="d3")
    clock.pin(datetime(2026, 11, 23, 0, 30, tzinfo=SHANGHAI))
    token_g = api.login("giver")[0]
    tomorrow = _gift(api, token_g, _code(r), 100, key="d4")

    assert [first.status_code, over.status_code, rest.status_code, tomorrow.status_code] == [201, 409, 201, 201]
    assert over.json_body["error"]["code"] == "gift_daily_limit_reached"
    assert over.json_body["error"]["fields"] == [
        {"field": "points", "reason": "at most 100 points a day; 30 left today"}
    ]
    assert members_repo.get_member(g).balance == 300
    assert list(reconcile([g, r, r2])) == []


# --- debt: the recipient's, and a refund of the giver's source order ----------------------------------


def test_a_recipient_in_debt_repays_it_first_and_the_rest_keeps_its_dates(api: Api) -> None:
    _enable()
    token_g, g, token_r, r = _pair(api)
    api.order("DEBT-1", {"member_id": r}, 10_000)
    assert api.redeem(token_r, 100, "spent").status_code == 201
    api.refund("DEBT-1", {})  # the recipient owes 100
    older, newer = _months_ago(1), _months_ago(0)
    _seed(g, 150, older)
    _seed(g, 50, newer)

    assert _gift(api, token_g, _code(r), 180).status_code == 201

    recipient = members_repo.get_member(r)
    assert (recipient.balance, recipient.debt) == (80, 0)
    assert _lots(r) == {_expiry(older): 50, _expiry(newer): 30}
    (received,) = _entries(r, kinds.GIFT_IN)
    assert received.detail["debt_repaid"] == 100 and received.debt_after == 0
    assert gifts.explanation(received).endswith("其中 100 积分抵扣欠分")  # type: ignore[union-attr]
    assert list(reconcile([g, r])) == []


def test_a_refund_of_the_givers_source_order_after_the_gift_leaves_debt_and_the_gift(api: Api) -> None:
    _enable()
    token_g, g, _, r = _pair(api)
    assert api.order("SRC-1", {"member_id": g}, 10_000).json_body["balance"] == 100
    assert _gift(api, token_g, _code(r), 80).json_body["balance"] == 20

    refund = api.refund("SRC-1", {})

    assert refund.status_code == 200, refund.body
    assert refund.json_body["points_reversed"] == 100 and refund.json_body["balance"] == -80
    giver, recipient = members_repo.get_member(g), members_repo.get_member(r)
    assert (giver.balance, giver.debt) == (-80, 80)
    assert _lots(g) == {}
    assert recipient.balance == 80 and sum(_lots(r).values()) == 80, "the recipient keeps the gift"
    assert _gift(api, token_g, _code(r), 1, key="g-2").status_code == 409, "a giver in debt has nothing to give"
    assert list(reconcile([g, r])) == []
