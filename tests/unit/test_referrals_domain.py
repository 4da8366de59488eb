"""Referral rules (邀请有礼) with no I/O: who counts as new, what is a self-referral, when an
open referral pays, which claims make one person one invitee, and what a referrer sees."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain.members import Member
from chalicelib.domain.programme import PointsPolicy, Programme, ReferralRules, TierRule
from chalicelib.domain.referrals import (
    ReferralStatus,
    Step,
    code_from_scene,
    is_new,
    mask_nickname,
    mask_phone_for_referrer,
    month_counter,
    next_month,
    next_step,
    person_claims,
    qr_scene,
    return_window_days,
    same_person,
    settles_on,
    share_path,
)

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
BOUND, DUE, SETTLED = ReferralStatus.BOUND, ReferralStatus.DUE, ReferralStatus.SETTLED


def member(member_id: str, **fields: object) -> Member:
    return Member(member_id, "2026-11-22T01:00:00.000000Z", **fields)  # type: ignore[arg-type]


def programme(pending_days: int = 0, window: int = 7) -> Programme:
    return Programme(
        name="p",
        tiers=(TierRule(code="normal", name="普通会员", min_growth=0),),
        default_tier="normal",
        points=PointsPolicy(pending_days=pending_days),
        referral=ReferralRules(return_window_days=window),
    )


def test_the_share_path_and_the_qr_scene_carry_the_code_and_only_ref_scenes_name_one() -> None:
    assert share_path("ABCD12345") == "pages/index/index?ref=ABCD12345"
    assert qr_scene("ABCD12345") == "ref_ABCD12345"
    assert code_from_scene("ref_ABCD12345") == "ABCD12345"
    assert [code_from_scene(s) for s in ("store_S001", "ref_", "", None, "xref_A")] == [None] * 5


def test_a_member_is_new_for_24_hours_after_joining() -> None:
    joined = member("m1")
    assert is_new(joined, datetime(2026, 11, 23, 0, 59, 59, tzinfo=UTC))
    assert not is_new(joined, datetime(2026, 11, 23, 1, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("invitee", "referrer", "same"),
    [
        (member("m1"), member("m1"), True),
        (member("m1", unionid="u1"), member("m2", unionid="u1"), True),
        (member("m1", phone_hash="h1"), member("m2", phone_hash="h1"), True),
        (member("m1", unionid="u1", phone_hash="h1"), member("m2", unionid="u2", phone_hash="h2"), False),
        (member("m1"), member("m2"), False),  # no unionid or phone on either: nothing in common
    ],
    ids=["one-member", "same-unionid", "same-phone", "different", "nothing-known"],
)
def test_a_self_referral_is_one_member_or_a_shared_unionid_or_phone(
    invitee: Member, referrer: Member, same: bool
) -> None:
    assert same_person(invitee, referrer) is same


def test_the_return_window_is_the_programmes_pending_days_when_it_has_them() -> None:
    assert return_window_days(programme(pending_days=0, window=7)) == 7
    assert return_window_days(programme(pending_days=14, window=7)) == 14
    assert settles_on(date(2026, 11, 22), 7) == date(2026, 11, 29)


@pytest.mark.parametrize(
    ("status", "reward_on", "phone", "kept", "step"),
    [
        (BOUND, "registration", True, None, Step.PAY),
        (BOUND, "registration", False, None, Step.WAIT),
        (BOUND, "first_order_settled", True, None, Step.WAIT),
        (DUE, "first_order_settled", True, None, Step.WAIT),  # the window has not passed
        (DUE, "first_order_settled", True, True, Step.PAY),
        (DUE, "first_order_settled", False, True, Step.SETTLE),
        (DUE, "first_order_settled", True, False, Step.REOPEN),  # fully refunded
        (DUE, "registration", True, None, Step.PAY),  # the programme changed to registration
        (SETTLED, "first_order_settled", True, None, Step.PAY),
        (SETTLED, "first_order_settled", False, None, Step.WAIT),
        (ReferralStatus.REWARDED, "registration", True, True, Step.WAIT),
        (ReferralStatus.REFUSED, "registration", True, True, Step.WAIT),
    ],
)
def test_an_open_referral_pays_once_its_trigger_is_met_and_the_phone_is_known(
    status: ReferralStatus, reward_on: str, phone: bool, kept: bool | None, step: Step
) -> None:
    assert next_step(status, reward_on, phone, kept) == step


def test_one_person_is_claimed_by_unionid_and_by_phone_whatever_the_account() -> None:
    first = member("m1", unionid="u1", phone_hash="h1")
    second_account = member("m2", unionid="u2", phone_hash="h1")
    assert person_claims(first) == ["referral-person:union:u1", "referral-person:phone:h1"]
    assert set(person_claims(first)) & set(person_claims(second_account)) == {"referral-person:phone:h1"}
    assert person_claims(member("m3")) == []


def test_the_month_counter_is_per_referrer_and_calendar_month() -> None:
    assert month_counter("m1", date(2026, 11, 30)) == "referral-month:m1:2026-11"
    assert month_counter("m1", date(2026, 12, 1)) != month_counter("m1", date(2026, 11, 30))
    assert next_month(date(2026, 12, 15)) == date(2027, 1, 1)
    assert [next_month(date(2026, m, 1)) - timedelta(days=1) for m in (1, 2)] == [date(2026, 1, 31), date(2026, 2, 28)]


@pytest.mark.parametrize(
    ("nickname", "masked"), [("张三丰", "张**"), ("张三", "张*"), ("张", "张*"), ("", None), (None, None)]
)
def test_a_referrer_sees_only_the_first_character_of_a_friends_nickname(nickname: str | None, masked: str) -> None:
    assert mask_nickname(nickname) == masked


def test_a_referrer_sees_less_of_a_friends_phone_than_its_owner() -> None:
    assert mask_phone_for_referrer("138****1234") == "138******34"
    assert mask_phone_for_referrer(None) is None
    assert mask_phone_for_referrer("*****") is None
