"""Tiers and 保级: growth (成长值) in the programme's window, upgrades at once, downgrades only at
the review, the warning before it, and a review job that reads only the members due."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from pynamodb.connection.base import Connection

from chalicelib import clock
from chalicelib.domain.members import Member
from chalicelib.domain.programme import Programme
from chalicelib.domain.tier_review import merged_state, next_review
from chalicelib.domain.tiers import TierState, add_growth, add_months, window_growth
from chalicelib.jobs.runner import run_job
from chalicelib.notify import sender
from chalicelib.services import orders, programme, tiers
from chalicelib.services.orders import MemberRef
from chalicelib.store import members_repo, programme_repo
from chalicelib.store.models import JobStateModel, MemberModel
from tests.bench.counting import count_dynamodb
from tests.integration.test_jobs import queued
from tests.support.api import Api, dumps, operator_headers
from tests.support.notify import reset_fake_wechat, sent_messages

SHANGHAI = timezone(timedelta(hours=8))
TIERS: list[dict[str, Any]] = [
    {"code": "normal", "name": "普通会员", "min_growth": 0},
    {
        "code": "silver",
        "name": "银卡",
        "min_growth": 3000,
        "keep_growth": 2000,
        "benefits": {"points_multiplier": 200, "discount_rate": 95, "perks": ["优先发货"]},
    },
    {"code": "gold", "name": "金卡", "min_growth": 15000, "keep_growth": 12000, "benefits": {"discount_rate": 90}},
    {"code": "black", "name": "黑金", "min_growth": 50000, "keep_growth": 40000},
]


def at(text: str) -> datetime:
    """A moment in Shanghai: `2026-12-31 23:59:59`."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def publish(**policy: Any) -> Programme:
    document = {"name": "保级", "tiers": TIERS, "default_tier": "normal", "tier_policy": policy}
    rules = Programme.model_validate(document, strict=False)
    programme_repo.publish(programme_repo.current_version(), rules.model_dump(mode="json"), "t", "tests", None)
    programme.forget()
    return rules


def member(member_id: str, **fields: Any) -> str:
    members_repo.create_member(Member(member_id, "2025-01-01T00:00:00Z", **fields), [])
    return member_id


def order(member_id: str, order_id: str, yuan: int, paid: str, reported: str | None = None) -> None:
    paid_at = at(paid)
    now = at(reported) if reported else paid_at
    orders.record_order(order_id, MemberRef(member_id=member_id), yuan * 100, paid_at, None, now, pos_client="pos-1")


def refund(order_id: str, refund_id: str | None, yuan: int | None, when: str) -> None:
    orders.refund_order(order_id, refund_id, None if yuan is None else yuan * 100, at(when), "pos-1")


def state(member_id: str) -> tuple[str, int, dict[str, int], date | None]:
    found = members_repo.get_member(member_id)
    return found.tier_code, found.growth, dict(found.tier_state.growth_months), found.tier_state.review_on


def tier(member_id: str) -> str:
    return members_repo.get_member(member_id).tier_code


def review(when: str) -> dict[str, int]:
    return run_job("tier-review", at(when))


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [event["kind"] for event in events]


# The window, pure -----------------------------------------------------------------------

BUCKETS = {"2026-12": 10, "2027-01": 20, "2027-02": 40, "2028-01": 100, "2028-02": 200}


@pytest.mark.parametrize(
    ("window", "today", "growth"),
    [
        ("lifetime", date(2026, 1, 1), 999),
        ("calendar_year", date(2026, 12, 31), 10),
        ("calendar_year", date(2027, 1, 1), 20),  # Jan 1: last year's growth no longer counts
        ("calendar_year", date(2027, 12, 31), 60),
        ("rolling_12_months", date(2027, 11, 30), 70),  # Dec 2026 .. Nov 2027
        ("rolling_12_months", date(2027, 12, 1), 60),  # Jan 2027 .. Dec 2027: December 2026 left
        ("rolling_12_months", date(2028, 1, 31), 140),  # Feb 2027 .. Jan 2028
        ("rolling_12_months", date(2028, 2, 29), 300),  # Mar 2027 .. Feb 2028 (leap day)
    ],
)
def test_window_growth_counts_the_months_of_its_window(window: str, today: date, growth: int) -> None:
    assert window_growth(BUCKETS, 999, window, today) == growth


def test_buckets_keep_24_months_and_a_refund_never_takes_a_month_below_zero() -> None:
    buckets = add_growth({"2024-11": 5, "2024-12": 7, "2026-11": 3}, "2026-11", -10, date(2026, 11, 22))
    assert buckets == {"2024-12": 7}, "Nov 2024 is the 25th month back; an emptied month is dropped"
    assert add_growth(buckets, "2020-01", -5, date(2026, 11, 22)) == {"2024-12": 7}


@pytest.mark.parametrize(
    ("needed", "per_yuan", "text"),
    [(1280, 1, "再消费 ¥1,280 即可保级"), (1281, 2, "再消费 ¥641 即可保级"), (5, 0, "再获得 5 成长值即可保级")],
)
def test_the_keep_text_says_exactly_what_is_missing(needed: int, per_yuan: int, text: str) -> None:
    assert tiers.keep_text(needed, per_yuan) == text


def test_review_dates_follow_the_members_own_calendar_without_drifting_at_month_ends() -> None:
    assert add_months(date(2028, 2, 29), 12) == date(2029, 2, 28)
    assert next_review(date(2027, 1, 31), 1, date(2027, 1, 31)) == date(2027, 2, 28)
    assert next_review(date(2027, 1, 31), 1, date(2027, 2, 28)) == date(2027, 3, 31), "not Mar 28"
    assert next_review(date(2026, 3, 10), 12, date(2028, 5, 1)) == date(2029, 3, 10), "a late run skips ahead"


def test_a_merge_keeps_the_review_calendar_of_the_member_who_held_the_tier() -> None:
    a = TierState({"2026-10": 100}, review_on=date(2027, 5, 1), due_on=date(2027, 4, 1))
    b = TierState({"2026-10": 50, "2026-11": 7}, review_on=date(2027, 9, 1), due_on=date(2027, 8, 2))
    kept, emptied = merged_state(("silver", a), ("gold", b), "gold")
    assert kept == replace(b, growth_months={"2026-10": 150, "2026-11": 7}) and emptied == TierState()
    assert merged_state(("gold", a), ("gold", b), "gold")[0].review_on == date(2027, 5, 1), "the survivor's"
    assert merged_state(("silver", a), ("silver", b), "gold")[0].review_on == date(2027, 9, 1), "the later"


# Growth and upgrades at once ------------------------------------------------------------


def test_calendar_year_growth_starts_again_at_shanghai_midnight_on_jan_1(tables: None) -> None:
    publish(window="calendar_year")
    late, early, reported_late = member("m_late"), member("m_early"), member("m_next_day")
    for member_id in (late, early, reported_late):
        order(member_id, f"{member_id}-1", 2999, "2026-12-31 12:00")
    order(late, "late-2", 1, "2026-12-31 23:59:59")
    order(early, "early-2", 1, "2027-01-01 00:00:00")  # 16:00 UTC on Dec 31: already 2027 here
    order(reported_late, "next-2", 1, "2026-12-31 23:59:50", reported="2027-01-01 00:00:10")

    assert state(late)[:3] == ("silver", 3000, {"2026-12": 3000})
    assert state(early)[:3] == ("normal", 3000, {"2026-12": 2999, "2027-01": 1})
    assert state(reported_late)[:3] == ("normal", 3000, {"2026-12": 3000}), "Dec growth no longer counts on Jan 1"


def test_rolling_12_months_are_this_month_and_the_11_before_across_feb_29(tables: None) -> None:
    publish(window="rolling_12_months")
    dropped, reached = member("m_dropped"), member("m_reached")
    order(dropped, "D-1", 1500, "2027-02-28 20:00")
    order(dropped, "D-2", 1499, "2028-01-31 23:59:59")  # Feb 2027 .. Jan 2028: 2999
    assert tier(dropped) == "normal"
    order(dropped, "D-3", 1, "2028-02-29 00:00:00")  # Mar 2027 .. Feb 2028: Feb 2027's 1500 left
    assert tier(dropped) == "normal"

    order(reached, "H-1", 1500, "2027-03-01 00:00:00")
    order(reached, "H-2", 1500, "2028-02-29 23:59:59")  # exactly 3000 in Mar 2027 .. Feb 2028
    code, growth, _, review_on = state(reached)
    assert (code, growth, review_on) == ("silver", 3000, date(2029, 2, 28)), "upgraded at once, reviewed in 12 months"
    assert members_repo.get_member(reached).tier_state.due_on == date(2029, 1, 29), "warned 30 days before"


def test_an_upgrade_is_announced_at_once_as_today(tables: None) -> None:
    publish(window="rolling_12_months")
    m = member("m_up", work_external_userid="wm_up", work_follow_users=frozenset({"staff_a"}))
    queued()
    order(m, "UP-1", 3000, "2026-11-20 12:00")
    events = {event["kind"]: event for event in queued()}
    assert set(events) == {"points.earned", "tier.changed", "task.work_mark_tag"}
    data = events["tier.changed"]["data"]
    assert (data["tier_code"], data["previous_tier_code"], data["direction"]) == ("silver", "normal", "up")
    assert (data["headline"], data["note"]) == ("恭喜您会员升级", "恭喜您升级，专属权益已生效")


def test_refunds_take_growth_back_from_the_month_of_the_order_and_a_replay_adds_nothing(tables: None) -> None:
    publish(window="rolling_12_months")
    m = member("m_refund")
    order(m, "RF-1", 2000, "2026-11-05 12:00")
    order(m, "RF-1", 2000, "2026-11-05 12:00")  # the POS retried
    order(m, "RF-2", 2000, "2026-12-05 12:00")
    refund("RF-1", None, None, "2026-12-10 12:00")
    refund("RF-2", "r1", 500, "2026-12-10 12:00")
    refund("RF-2", "r1", 500, "2026-12-10 12:00")  # a retried refund
    assert state(m)[:3] == ("silver", 1500, {"2026-12": 1500}), "silver from December's 4000; refunds never downgrade"


# The review -----------------------------------------------------------------------------


def _silver_since_march(member_id: str, later: dict[str, int]) -> str:
    """Upgraded on 2026-03-10 (review 2027-03-10, counting Apr 2026 .. Mar 2027), plus `later`."""
    member(member_id)
    order(member_id, f"{member_id}:up", 3000, "2026-03-10 12:00")
    for n, (paid, yuan) in enumerate(later.items()):
        order(member_id, f"{member_id}:{n}", yuan, paid)
    return member_id


def test_review_keeps_the_tier_at_exactly_the_keep_threshold_and_moves_down_one_below(tables: None) -> None:
    publish(window="rolling_12_months")
    kept = _silver_since_march("m_kept", {"2026-06-01 12:00": 1000, "2027-01-31 23:00": 1000})
    short = _silver_since_march("m_short", {"2026-06-01 12:00": 1000, "2027-01-31 23:00": 999})
    queued()

    counts = review("2027-03-10 10:30")

    assert counts["items"] == 2
    assert state(kept)[0] == "silver" and state(kept)[3] == date(2028, 3, 10), "kept: reviewed again in a year"
    assert state(short)[0] == "normal" and state(short)[3] is None, "the lowest tier has no review"
    [changed] = queued()
    assert changed["event_id"] == "tier-review:m_short:2027-03-10#tier.changed"
    assert (changed["data"]["direction"], changed["data"]["previous_tier_code"]) == ("down", "silver")
    assert changed["data"]["note"] == "会员等级已调整，消费即可重新升级"
    assert MemberModel.get("m_short").tier_due_on is None, "off the review index"


def test_growth_bought_and_refunded_before_the_review_does_not_keep_the_tier(tables: None) -> None:
    publish(window="rolling_12_months")
    m = _silver_since_march("m_refunded", {"2027-02-20 12:00": 2000})
    refund("m_refunded:0", None, None, "2027-03-01 12:00")  # the spend that would have kept silver

    review("2027-03-10 10:30")

    assert state(m)[:3] == ("normal", 3000, {"2026-03": 3000})


@pytest.mark.parametrize(("downgrade", "lands_on"), [("one_step", "gold"), ("to_qualified", "silver")])
def test_review_moves_down_one_step_or_to_the_tier_the_growth_keeps(
    tables: None, downgrade: str, lands_on: str
) -> None:
    publish(window="rolling_12_months", downgrade=downgrade)
    m = member("m_black", work_external_userid="wm_b", work_follow_users=frozenset({"staff_a"}))
    order(m, "B-1", 50_000, "2026-03-10 12:00")
    order(m, "B-2", 2500, "2026-12-01 12:00")  # keeps silver (2000), not gold (12000)
    queued()

    review("2027-03-10 10:30")

    assert state(m)[0] == lands_on and state(m)[3] == date(2028, 3, 10)
    events = {event["kind"]: event for event in queued()}
    assert events["task.work_mark_tag"]["data"]["tier_code"] == lands_on
    assert events["tier.changed"]["data"]["previous_tier_code"] == "black"


def test_no_downgrade_within_the_protection_after_an_upgrade(tables: None) -> None:
    publish(window="rolling_12_months", review_months=1, protection_days=90, warning_days=0)
    m = member("m_protected")
    order(m, "P-1", 3000, "2026-03-10 12:00")
    refund("P-1", None, None, "2026-03-20 12:00")  # nothing left to keep silver with
    assert state(m)[:2] == ("silver", 0), "a refund never downgrades"

    review("2026-04-10 10:30")
    assert state(m)[0] == "silver" and state(m)[3] == date(2026, 6, 8), "the review waits for the protection"
    review("2026-06-07 10:30")
    assert state(m)[0] == "silver"
    review("2026-06-08 10:30")
    assert state(m)[0] == "normal"


def test_the_warning_says_exactly_what_keeps_the_tier_once_per_review(tables: None, fake_wechat: str) -> None:
    wechat = reset_fake_wechat(fake_wechat)
    publish(window="rolling_12_months", warning_days=30)
    m = _silver_since_march("m_warned", {"2026-08-08 12:00": 720})  # counted: 720 of the 2000
    MemberModel(m).update(actions=[MemberModel.mp_openid.set("mp_warned"), MemberModel.mp_followed.set(True)])
    queued()

    review("2027-02-07 10:30")
    assert queued() == [], "31 days before the review: not yet"
    review("2027-02-08 10:30")
    [warning] = queued()
    assert warning["event_id"] == "tier-warning:m_warned:2027-03-10"
    assert warning["data"]["keep_text"] == "再消费 ¥1,280 即可保级"
    assert (warning["data"]["growth_needed"], warning["data"]["yuan_needed"]) == (1280, 1280)
    sender.deliver(_event(warning))
    [message] = sent_messages(wechat, "mp_template")
    assert message["body"]["data"]["remark"] == {"value": "再消费 ¥1,280 即可保级"}
    assert message["body"]["data"]["keyword2"] == {"value": "2027-03-10"}

    JobStateModel("tier-review").delete()  # the whole period again: the warning is not repeated
    review("2027-02-08 10:30")
    review("2027-03-09 10:30")
    assert queued() == []
    item = MemberModel.get(m)
    assert (item.tier_warned_for, item.tier_due_on) == ("2027-03-10", "2027-03-10"), "next: the review itself"


def _event(body: dict[str, Any]) -> Any:
    from chalicelib.domain.events import DomainEvent

    return DomainEvent(body["event_id"], body["kind"], body["member_id"], body["occurred_at"], body["data"])


def test_review_job_reads_only_members_due_and_never_scans(tables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(window="rolling_12_months")
    due = [_silver_since_march(f"m_due_{n}", {}) for n in range(3)]
    for n in range(20):  # reviewed next year, or on the lowest tier: never read
        member(f"m_later_{n}")
        order(f"m_later_{n}", f"later-{n}", 3000 if n % 2 else 10, "2026-11-01 12:00")
    original = Connection._make_api_call

    def no_scan(self: Connection, operation: str, kwargs: dict[str, Any]) -> Any:
        assert operation != "Scan", "the review job scanned"
        return original(self, operation, kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", no_scan)
    with count_dynamodb() as tally:
        counts = review("2027-03-10 10:30")

    assert counts["items"] == 3 and [tier(m) for m in due] == ["normal"] * 3
    # Each due member: its index entry and its item (one BatchGetItem a page); plus the job's state.
    assert tally.items_read <= 2 * 3 + 1, tally.as_dict()
    assert tally.requests["TransactWriteItems"] == 3


def test_a_rerun_of_the_same_days_review_changes_nothing(tables: None) -> None:
    publish(window="rolling_12_months")
    m = _silver_since_march("m_rerun", {})
    review("2027-03-10 10:30")
    before = members_repo.get_member(m)
    queued()

    assert review("2027-03-10 11:00").get("items", 0) == 0
    JobStateModel("tier-review").delete()  # even with the watermark gone
    again = review("2027-03-10 11:00")

    after = members_repo.get_member(m)
    assert again["days"] == 1 and (after.version, after.tier_code) == (before.version, "normal")
    assert queued() == []


# Merges and the member's card -----------------------------------------------------------


def test_a_merge_adds_the_growth_buckets_up_and_the_merged_member_leaves_the_review(api: Api) -> None:
    clock.pin(at("2026-11-22 10:00"))  # whatever day the suite runs on (WXM_TEST_NOW)
    publish(window="rolling_12_months")
    _, a = api.login("merge_a")
    response = api.http.post(
        "/v1/auth/login", body=dumps({"code": "nounion:merge_b"}), headers={"Content-Type": "application/json"}
    )
    b = response.json_body["member_id"]
    order(a, "MA-1", 100, "2026-10-10 12:00")
    order(b, "MB-1", 50, "2026-10-11 12:00")
    order(b, "MB-2", 3000, "2026-11-20 12:00")  # b: silver, reviewed 2027-11-20
    body = dumps({"survivor_id": a, "merged_id": b, "reason": "same person"})
    requested = api.http.post("/admin/members/merge", body=body, headers=operator_headers())
    approve = f"/admin/approvals/{requested.json_body['approval_id']}/approve"
    assert api.http.post(approve, body=b"{}", headers=operator_headers("bob")).status_code == 200

    assert state(a) == ("silver", 3150, {"2026-10": 150, "2026-11": 3000}, date(2027, 11, 20))
    merged = MemberModel.get(b)
    assert [merged.growth_months, merged.tier_due_on, merged.tier_review_on] == [None] * 3


def test_my_card_shows_window_growth_next_tier_keep_threshold_review_and_benefits(api: Api) -> None:
    clock.pin(at("2026-11-22 10:00"))  # whatever day the suite runs on (WXM_TEST_NOW)
    publish(window="rolling_12_months")
    token, m = api.login("card")
    order(m, "C-1", 2500, "2026-11-20 12:00")
    shown = api.me(token).json_body["tier_status"]
    assert shown["growth"] == 2500 and shown["keep"] is None and shown["review_on"] is None
    assert shown["next_tier"] == {
        "code": "silver",
        "name": "银卡",
        "goal": {"growth": 3000, "growth_needed": 500, "yuan_needed": 500},
    }

    order(m, "C-2", 600, "2026-11-21 12:00")
    me = api.me(token).json_body
    assert me["tier"] == {"code": "silver", "name": "银卡"}
    shown = me["tier_status"]
    assert (shown["window"], shown["growth"], shown["review_on"]) == ("rolling_12_months", 3100, "2027-11-21")
    # The review counts Dec 2026 .. Nov 2027: this month's growth will have left the window.
    assert shown["keep"] == {"growth": 2000, "growth_needed": 2000, "yuan_needed": 2000}
    assert shown["next_tier"]["goal"]["growth_needed"] == 11_900
    assert shown["benefits"] == {
        "points_multiplier": 200,
        "discount_rate": 95,
        "birthday_points": 0,
        "perks": ["优先发货"],
    }
