"""Referrals (邀请有礼) through the API: a new member who logs in with my code (or follows the
official account through my QR code) is bound to me once; both of us are paid when they bind
a phone, or once their first order has passed its return window; nobody refers themselves,
closes a loop, is paid twice as one person on two WeChat accounts, or pays a referrer past
the month's cap; and the listing shows only my invitees, masked."""

from __future__ import annotations

import base64
import json
from datetime import datetime, time, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.domain import ledger as kinds
from chalicelib.domain.referrals import ReferralStatus
from chalicelib.jobs.runner import run_job
from chalicelib.services import member_codes
from chalicelib.services.reconcile import reconcile
from chalicelib.store import members_repo, points_repo, referrals_repo
from tests.conftest import TEST_NOW
from tests.support.api import SHANGHAI, Api, dumps, member_headers
from tests.support.programme import publish_with
from tests.support.wechat import XML_HEADERS, mp_event, mp_safe

JSON = {"Content-Type": "application/json"}

TODAY = TEST_NOW.astimezone(SHANGHAI).date()  # the pinned day in the brand's calendar
PAID = (TEST_NOW - timedelta(hours=1)).astimezone(SHANGHAI).date()  # what `paid_at()` dates an order


def login(api: Api, name: str, invite_code: str | None = None) -> tuple[str, str]:
    body: dict[str, Any] = {"code": f"demo:{name}"}
    if invite_code is not None:
        body["invite_code"] = invite_code
    response = api.http.post("/v1/auth/login", body=dumps(body), headers=JSON)
    assert response.status_code == 200, response.body
    return response.json_body["token"], response.json_body["member_id"]


def listing(api: Api, token: str, query: str = "") -> Any:
    return api.http.get(f"/v1/me/referrals{query}", headers=member_headers(token))


def code_of(api: Api, name: str) -> tuple[str, str, str]:
    token, member_id = login(api, name)
    response = listing(api, token)
    assert response.status_code == 200, response.body
    return token, member_id, response.json_body["code"]


def bind_phone(api: Api, token: str, phone: str) -> Any:
    return api.http.post("/v1/me/phone", body=dumps({"code": f"phone:{phone}"}), headers=member_headers(token))


def balance(member_id: str) -> int:
    return members_repo.get_member(member_id).balance


def status(member_id: str) -> tuple[str, str | None] | None:
    record = referrals_repo.get(member_id)
    return (record.status.value, record.reason.value if record.reason else None) if record else None


def invited(api: Api, referrer_code: str, name: str, phone: str | None = None) -> tuple[str, str]:
    token, member_id = login(api, name, referrer_code)
    if phone is not None:
        assert bind_phone(api, token, phone).status_code == 200
    return token, member_id


# --- the happy path ------------------------------------------------------------------------------


def test_a_friend_with_my_code_who_binds_a_phone_pays_us_both_once(api: Api) -> None:
    token, referrer, code = code_of(api, "ref-amy")
    friend_token, friend = invited(api, code, "ref-ben")
    assert status(friend) == ("bound", None) and balance(friend) == 0

    assert bind_phone(api, friend_token, "13800001111").status_code == 200
    assert bind_phone(api, friend_token, "13800001111").status_code == 200  # again: no second reward

    assert (balance(referrer), balance(friend)) == (50, 50)
    assert [e.kind for e in points_repo.iter_member_entries(friend)] == [kinds.REFERRAL]
    body = listing(api, token).json_body
    assert body["share_path"] == f"pages/index/index?ref={code}" and body["qr_scene"] == f"ref_{code}"
    assert body["month"] == {"month": f"{TODAY:%Y-%m}", "rewarded": 1, "cap": 20}
    assert "50" in body["rules"]["text"] and body["rules"]["reward_on"] == "registration"
    [item] = body["items"]
    assert (item["status"], item["points"], item["phone"]) == ("rewarded", 50, "138******11")
    ledger = api.http.get("/v1/me/points/ledger", headers=member_headers(friend_token)).json_body
    assert [(i["kind"], i["points"]) for i in ledger["items"]] == [("referral", 50)]
    assert list(reconcile([referrer, friend])) == []


def test_a_new_follower_through_my_qr_code_is_bound_to_me(api: Api) -> None:
    token, referrer, code = code_of(api, "ref-qr")
    path, body = mp_safe(mp_event("mp_qrfriend", "subscribe", EventKey=f"qrscene_ref_{code}", Ticket="t1"))
    assert api.http.post(path, body=body, headers=XML_HEADERS).status_code == 200

    follower = members_repo.find_member_ids(["mp:mp_qrfriend"])["mp:mp_qrfriend"]
    record = referrals_repo.get(follower)
    assert record is not None and (record.referrer_id, record.via) == (referrer, "mp")
    assert [i["status"] for i in listing(api, token).json_body["items"]] == ["bound"]


def test_an_unknown_or_malformed_invite_code_never_breaks_the_login(api: Api) -> None:
    body = "ZZZZZZZZ"
    unknown = body + member_codes.check_character(body)
    for n, code in enumerate(["nonsense", "", unknown, "ref_" + unknown, "💥" * 30]):
        _, member_id = login(api, f"ref-odd-{n}", code)
        assert status(member_id) is None


# --- abuse -----------------------------------------------------------------------------------------


def test_my_own_code_binds_nobody(api: Api) -> None:
    _, me, code = code_of(api, "ref-self")
    login(api, "ref-self", code)
    assert status(me) is None


def test_a_loop_is_refused_directly_and_up_the_chain(api: Api) -> None:
    _, a, code_a = code_of(api, "ref-loop-a")
    _, b = invited(api, code_a, "ref-loop-b")
    code_b = member_codes.code_of(b, clock.utc_now())
    login(api, "ref-loop-a", code_b)  # a is still new (no order, < 24 h): b invited a?
    assert status(a) is None
    _, c = invited(api, code_b, "ref-loop-c")
    login(api, "ref-loop-a", member_codes.code_of(c, clock.utc_now()))  # a → b → c → a
    assert status(a) is None and status(c) == ("bound", None)


def test_a_member_is_bound_once_and_only_while_new(api: Api) -> None:
    _, first, code_1 = code_of(api, "ref-once-1")
    _, _, code_2 = code_of(api, "ref-once-2")
    _, friend = invited(api, code_1, "ref-once-f")
    login(api, "ref-once-f", code_2)
    record = referrals_repo.get(friend)
    assert record is not None and record.referrer_id == first

    _, old = login(api, "ref-once-old")
    clock.pin(clock.utc_now() + timedelta(hours=25))
    login(api, "ref-once-old", code_1)
    assert status(old) is None

    clock.pin(clock.utc_now() - timedelta(hours=25))
    _, buyer = login(api, "ref-once-buyer")
    assert api.order("o-buyer-1", {"member_id": buyer}, 1000).status_code == 200
    login(api, "ref-once-buyer", code_1)  # an hour old, but has ordered: not new
    assert status(buyer) is None


def test_the_same_phone_on_a_second_wechat_account_is_not_paid_twice(api: Api) -> None:
    _, referrer, code = code_of(api, "ref-dup-r")
    first_token, first = invited(api, code, "ref-dup-1", phone="13900002222")
    assert balance(first) == 50
    second_token, second = invited(api, code, "ref-dup-2")
    assert bind_phone(api, second_token, "13900002222").status_code == 409  # still on the first account
    assert status(second) == ("bound", None) and balance(second) == 0

    assert bind_phone(api, first_token, "13900003333").status_code == 200  # the first moves to a new number
    assert bind_phone(api, second_token, "13900002222").status_code == 200  # the phone binding succeeds ...
    assert status(second) == ("refused", "already_invited")  # ... but pays nobody
    assert (balance(referrer), balance(second)) == (50, 0)
    texts = {i["status"]: i["reason_text"] for i in listing(api, login(api, "ref-dup-r")[0]).json_body["items"]}
    assert texts == {"rewarded": None, "refused": "该好友已被邀请过"}


def test_a_referrer_at_the_months_cap_pays_no_more_until_next_month(api: Api) -> None:
    publish_with("referral", {"per_referrer_month": 2})
    token, referrer, code = code_of(api, "ref-cap")
    friends = [invited(api, code, f"ref-cap-{n}", phone=f"1370000000{n}")[1] for n in range(3)]

    assert [status(f) for f in friends] == [("rewarded", None)] * 2 + [("refused", "cap_reached")]
    assert balance(referrer) == 100 and balance(friends[2]) == 0
    assert listing(api, token).json_body["month"]["rewarded"] == 2

    first = (TODAY.replace(day=1) + timedelta(days=32)).replace(day=1)  # the 1st of next month
    clock.pin(datetime.combine(first, time(9, 0), tzinfo=SHANGHAI))
    _, december = invited(api, code, "ref-cap-dec", phone="13700000009")
    assert status(december) == ("rewarded", None) and balance(referrer) == 150


def test_a_merged_invitees_referral_follows_the_survivor_and_pays_there(api: Api) -> None:
    from chalicelib.services import identity

    _, referrer, code = code_of(api, "ref-mrg-r")
    _, invitee = invited(api, code, "ref-mrg-f")
    survivor_token, survivor = login(api, "ref-mrg-s")
    identity.merge_members(
        survivor, invitee, trigger="operator", now=clock.utc_now(), operator="alice", approved_by="dana"
    )
    assert status(invitee) is None and status(survivor) == ("bound", None)

    assert bind_phone(api, survivor_token, "13300001111").status_code == 200
    assert status(survivor) == ("rewarded", None) and (balance(referrer), balance(survivor)) == (50, 50)


def test_the_listing_is_the_tokens_own_and_its_cursor_cannot_be_forged(api: Api) -> None:
    token, referrer, code = code_of(api, "ref-list")
    other_token, other, _ = code_of(api, "ref-list-other")
    for n in range(3):
        invited(api, code, f"ref-list-{n}")

    assert listing(api, token, f"?member_id={other}").status_code == 400
    assert listing(api, other_token).json_body["items"] == []
    first = listing(api, token, "?limit=2").json_body
    rest = listing(api, token, f"?limit=2&cursor={first['next_cursor']}").json_body
    assert len(first["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    stamps = [i["bound_at"] for i in first["items"] + rest["items"]]
    assert stamps == sorted(stamps, reverse=True)

    key = json.loads(base64.urlsafe_b64decode(first["next_cursor"]))
    key["referrer_id"] = {"S": other}
    forged = base64.urlsafe_b64encode(json.dumps(key).encode()).decode()
    for cursor in (forged, "not-base64!", base64.urlsafe_b64encode(b"[1]").decode()):
        refused = listing(api, token, f"?cursor={cursor}")
        assert refused.status_code == 400 and refused.json_body["error"]["fields"][0]["field"] == "cursor"


def test_nothing_binds_or_pays_while_referrals_are_off(api: Api) -> None:
    publish_with("referral", {"enabled": False})
    token, _, code = code_of(api, "ref-off")
    _, friend = invited(api, code, "ref-off-f", phone="13600001111")
    assert status(friend) is None and balance(friend) == 0
    assert listing(api, token).json_body["rules"]["text"] == "邀请有礼活动暂未开放"


# --- paid once the first order has passed its return window ---------------------------------------


def _order(api: Api, order_id: str, member_id: str, amount_fen: int = 10_000) -> None:
    assert api.order(order_id, {"member_id": member_id}, amount_fen).status_code == 200  # orders call the hook


def _job(days_after_paid: int) -> dict[str, int]:
    """The job's 00:25 run this many days after the orders' paid day (an hour before the pin)."""
    return run_job("referral-rewards", datetime.combine(PAID + timedelta(days=days_after_paid), time(0, 25), SHANGHAI))


def test_the_first_order_pays_once_its_window_has_passed_and_a_full_refund_waits_for_the_next(api: Api) -> None:
    publish_with("referral", {"reward_on": "first_order_settled", "return_window_days": 7})
    _, referrer, code = code_of(api, "ref-ord")
    _, friend = invited(api, code, "ref-ord-f", phone="13500001111")
    assert status(friend) == ("bound", None) and balance(friend) == 0  # the phone alone pays nothing now

    _order(api, "o-ref-1", friend)
    _order(api, "o-ref-2", friend)  # a second order does not move the first one's date
    record = referrals_repo.get(friend)
    assert record is not None and (record.first_order_id, record.settles_on) == ("o-ref-1", PAID + timedelta(days=7))
    assert api.refund("o-ref-1", {}).status_code == 200  # fully refunded

    _job(6)
    assert status(friend) == ("due", None)
    _job(7)
    assert status(friend) == ("bound", None)  # back to waiting for the next order

    _order(api, "o-ref-3", friend)
    assert api.refund("o-ref-3", {"refund_id": "r1", "amount_fen": 5_000}).status_code == 200  # partly: kept
    clock.pin(datetime.combine(PAID + timedelta(days=7), time(12, 0), SHANGHAI))
    _job(8)
    assert status(friend) == ("rewarded", None)
    earned = balance(friend) - sum(e.delta for e in points_repo.iter_member_entries(friend) if e.kind != "referral")
    assert earned == 50 and balance(referrer) == 50
    _job(8)
    assert balance(referrer) == 50
    assert list(reconcile([referrer, friend])) == []


def test_a_settled_first_order_waits_for_the_phone_then_pays(api: Api) -> None:
    publish_with("referral", {"reward_on": "first_order_settled", "return_window_days": 3})
    _, referrer, code = code_of(api, "ref-late")
    friend_token, friend = invited(api, code, "ref-late-f")
    _order(api, "o-late-1", friend)
    _job(3)
    assert status(friend) == ("settled", None) and balance(referrer) == 0

    assert bind_phone(api, friend_token, "13500002222").status_code == 200
    assert status(friend) == (ReferralStatus.REWARDED.value, None) and balance(referrer) == 50
