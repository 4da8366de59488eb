"""Scheduled jobs under a controlled clock: month ends, leap years, the Shanghai day boundary
(16:00 UTC), re-runs on the same day, missed days caught up."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.domain.members import Member
from chalicelib.jobs.runner import run_job
from chalicelib.notify import events
from chalicelib.services import points
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, points_repo
from tests.support.worker import relay

SHANGHAI = timezone(timedelta(hours=8))


def at(text: str) -> datetime:
    """A local (Asia/Shanghai) moment: `2026-12-01 00:10`."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def member(member_id: str, **fields: Any) -> str:
    members_repo.create_member(Member(member_id, "2025-01-01T00:00:00Z", **fields), [])
    return member_id


def earn(member_id: str, amount: int, earned_at: datetime, key: str = "seed") -> None:
    points.earn(member_id, amount, points.operation(f"{key}:{member_id}:{earned_at.date()}", {}, earned_at))


def queued() -> list[dict[str, Any]]:
    """Every event on the queue (consumed), after the outbox was relayed to it."""
    relay()
    client, url = events.sqs_client(), events.queue_url(get_settings().events_queue_name)
    found: list[dict[str, Any]] = []
    while batch := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            found.append(json.loads(message["Body"]))
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def ledger(member_id: str) -> list[tuple[str, int]]:
    return [(e.entry_id, e.delta) for e in points_repo.iter_member_entries(member_id)]


# Points expiry ---------------------------------------------------------------------------


def test_points_expire_at_shanghai_midnight_which_is_16_utc(tables: None) -> None:
    alice = member("m_alice")
    earn(alice, 100, at("2025-11-10 12:00"))  # rolling:12 → last valid day 2026-11-30
    queued()

    before = run_job("expire-points", datetime(2026, 11, 30, 15, 59, tzinfo=UTC))  # 23:59 on the last day
    assert members_repo.get_member(alice).balance == 100
    assert queued() == []

    after = run_job("expire-points", datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # 00:00 on Dec 1 locally
    assert before["days"] == 1 and after["days"] == 1
    assert members_repo.get_member(alice).balance == 0
    assert ledger(alice)[-1] == ("expire:m_alice:2026-12-01", -100)
    [event] = queued()
    assert event["kind"] == "points.expired" and event["event_id"] == "expire:m_alice:2026-12-01"
    assert event["data"] == {"points": 100, "balance": 0}


def test_expiry_takes_only_due_lots_and_keeps_later_ones(tables: None) -> None:
    bob = member("m_bob")
    earn(bob, 30, at("2025-11-10 12:00"))  # → 2026-11-30
    earn(bob, 70, at("2025-12-10 12:00"))  # → 2026-12-31

    run_job("expire-points", at("2026-12-01 00:10"))

    assert members_repo.get_member(bob).balance == 70
    assert [lot.expires_on for lot in points_repo.load_lots(bob)] == [date(2026, 12, 31)]


def test_february_month_end_expires_on_march_first_in_a_common_year(tables: None) -> None:
    carol = member("m_carol")
    earn(carol, 40, at("2025-02-03 12:00"))  # → 2026-02-28

    run_job("expire-points", at("2026-02-28 23:00"))
    assert members_repo.get_member(carol).balance == 40
    run_job("expire-points", at("2026-03-01 00:10"))
    assert members_repo.get_member(carol).balance == 0


def test_leap_year_lot_is_valid_through_february_29(tables: None) -> None:
    dave = member("m_dave")
    earn(dave, 25, at("2027-02-03 12:00"))  # → 2028-02-29

    run_job("expire-points", at("2028-02-29 00:10"))
    assert members_repo.get_member(dave).balance == 25
    run_job("expire-points", at("2028-03-01 00:10"))
    assert members_repo.get_member(dave).balance == 0


def test_rerun_on_the_same_day_changes_nothing(tables: None) -> None:
    erin = member("m_erin")
    earn(erin, 50, at("2025-11-10 12:00"))
    queued()
    first = run_job("expire-points", at("2026-12-01 00:10"))
    events_first = queued()

    second = run_job("expire-points", at("2026-12-01 09:00"))

    assert first["items"] == 1 and len(events_first) == 1  # the event went through the outbox
    assert second.get("days", 0) == 0 and second.get("events", 0) == 0
    assert queued() == []
    assert [delta for _, delta in ledger(erin)] == [50, -50]


def test_missed_days_are_caught_up_by_the_next_run(tables: None) -> None:
    frank = member("m_frank")
    earn(frank, 60, at("2025-11-10 12:00"))  # → 2026-11-30
    run_job("expire-points", at("2026-11-29 00:10"))  # the job's first run

    # No run on Nov 30, Dec 1 or Dec 2 (a deploy broke the schedule); Dec 3 catches up.
    counts = run_job("expire-points", at("2026-12-03 00:10"))

    assert counts["days"] == 4
    assert members_repo.get_member(frank).balance == 0
    assert [entry for entry, _ in ledger(frank)][-1] == "expire:m_frank:2026-12-03"


# Expiring-points reminders -----------------------------------------------------------------


def test_reminders_30_and_7_days_before_the_last_valid_day_once_each(tables: None) -> None:
    gina = member("m_gina")
    earn(gina, 80, at("2025-11-10 12:00"))  # → 2026-11-30
    queued()

    run_job("expiry-reminders", at("2026-10-30 10:00"))  # 31 days before: nothing yet
    assert queued() == []
    run_job("expiry-reminders", at("2026-10-31 10:00"))
    run_job("expiry-reminders", at("2026-10-31 11:00"))  # same day again
    thirty = queued()
    run_job("expiry-reminders", at("2026-11-23 10:00"))  # catches up Nov 1..23: only the 7-day one is due
    seven = queued()

    assert [e["event_id"] for e in thirty] == ["remind:m_gina:2026-11-30:30"]
    assert thirty[0]["kind"] == "points.expiring"
    assert thirty[0]["data"] == {"points": 80, "expires_on": "2026-11-30", "days_left": 30}
    assert [e["event_id"] for e in seven] == ["remind:m_gina:2026-11-30:7"]


def test_reminder_days_come_from_settings(tables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPIRY_REMINDER_DAYS", "3")
    get_settings.cache_clear()
    hank = member("m_hank")
    earn(hank, 10, at("2025-11-10 12:00"))
    queued()

    run_job("expiry-reminders", at("2026-11-27 08:00"))

    assert [e["event_id"] for e in queued()] == ["remind:m_hank:2026-11-30:3"]
    get_settings.cache_clear()


# Birthday gifts ------------------------------------------------------------------------------


def test_birthday_gift_follows_the_tier_once_per_year(tables: None) -> None:
    ivy = member("m_ivy", birthday=date(1990, 12, 1), tier_code="silver")
    june = member("m_june", birthday=date(1991, 12, 2))

    run_job("birthday-gifts", datetime(2026, 11, 30, 16, 30, tzinfo=UTC))  # 00:30 on Dec 1 locally
    gifts = queued()

    assert members_repo.get_member(ivy).balance == 100  # 银卡 gift
    assert members_repo.get_member(june).balance == 0
    assert [(e["event_id"], e["kind"], e["data"]["points"]) for e in gifts] == [
        ("birthday:m_ivy:2026", "birthday.gift", 100)
    ]
    # Even with the watermark lost, the same year gives nothing twice.
    from chalicelib.store.models import JobStateModel

    JobStateModel("birthday-gifts").delete()
    run_job("birthday-gifts", at("2026-12-01 12:00"))
    assert members_repo.get_member(ivy).balance == 100
    assert [e["event_id"] for e in queued()] == ["birthday:m_ivy:2026"]  # same id: the sender sends once
    assert len(ledger(ivy)) == 1


def test_birthday_gift_is_not_member_activity(tables: None) -> None:
    kim = member("m_kim", birthday=date(1990, 12, 1), last_active_on="2026-10-01")

    run_job("birthday-gifts", at("2026-12-01 09:00"))

    assert members_repo.get_member(kim).last_active_on == "2026-10-01"


def test_feb_29_birthdays_are_celebrated_on_feb_28_in_common_years(tables: None) -> None:
    leap = member("m_leap", birthday=date(1992, 2, 29))
    plain = member("m_plain", birthday=date(1992, 2, 28))

    run_job("birthday-gifts", at("2027-02-28 09:00"))
    common_year = sorted(e["event_id"] for e in queued())
    run_job("birthday-gifts", at("2028-02-28 09:00"))
    leap_year_28 = sorted(e["event_id"] for e in queued())
    run_job("birthday-gifts", at("2028-02-29 09:00"))
    leap_year_29 = sorted(e["event_id"] for e in queued())

    assert common_year == [f"birthday:{leap}:2027", f"birthday:{plain}:2027"]
    assert leap_year_28 == [f"birthday:{plain}:2028"]
    assert leap_year_29 == [f"birthday:{leap}:2028"]


def test_missed_birthday_is_given_when_the_job_catches_up(tables: None) -> None:
    lena = member("m_lena", birthday=date(1990, 11, 30))
    run_job("birthday-gifts", at("2026-11-29 09:00"))

    run_job("birthday-gifts", at("2026-12-02 09:00"))

    assert members_repo.get_member(lena).balance == 50
    assert [e["event_id"] for e in queued()] == ["birthday:m_lena:2026"]


# Dormant members ----------------------------------------------------------------------------


def test_member_inactive_for_30_days_gets_one_reactivation_per_spell(tables: None) -> None:
    mia = member("m_mia", last_active_on="2026-10-31")
    noah = member("m_noah", last_active_on="2026-11-01")

    run_job("dormant-reactivation", at("2026-11-30 11:00"))
    run_job("dormant-reactivation", at("2026-11-30 12:00"))
    first = queued()
    # Noah comes back the day before his 30th (no message then); Mia returns on Dec 5.
    # Both go quiet again: each new spell gets its own message, 30 days after it began.
    members_repo.mark_active(noah, date(2026, 11, 30))
    members_repo.mark_active(mia, date(2026, 12, 5))
    run_job("dormant-reactivation", at("2027-01-04 11:00"))
    second = queued()

    assert [(e["event_id"], e["kind"]) for e in first] == [("dormant:m_mia:2026-10-31", "member.dormant")]
    assert first[0]["data"] == {"last_active_on": "2026-10-31", "dormant_days": 30}
    assert sorted(e["event_id"] for e in second) == ["dormant:m_mia:2026-12-05", "dormant:m_noah:2026-11-30"]


def test_dormant_job_skips_a_member_whose_index_entry_is_stale(tables: None) -> None:
    olga = member("m_olga", last_active_on="2026-10-31")
    run_job("dormant-reactivation", at("2026-11-29 11:00"))
    members_repo.mark_active(olga, date(2026, 11, 29))

    run_job("dormant-reactivation", at("2026-11-30 11:00"))

    assert queued() == []


def test_unknown_job_name_is_refused(tables: None) -> None:
    from chalicelib.jobs.runner import UnknownJob

    with pytest.raises(UnknownJob):
        run_job("no-such-job", at("2026-11-30 11:00"))


# The operator command line ------------------------------------------------------------------


def test_cli_runs_a_job_for_the_local_time_given(tables: None, capsys: pytest.CaptureFixture[str]) -> None:
    from chalicelib.cli import main

    pia = member("m_pia")
    earn(pia, 20, at("2025-11-10 12:00"))

    assert main(["job", "expire-points", "--now", "2026-12-01T00:10:00+08:00"]) == 0

    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["job"] == "expire-points" and printed["items"] == 1
    assert members_repo.get_member(pia).balance == 0


def test_cli_refuses_a_time_without_its_offset() -> None:
    from chalicelib.cli import main

    with pytest.raises(SystemExit, match="offset"):
        main(["job", "expire-points", "--now", "2026-12-01T00:10:00"])


def test_birthday_gift_points_come_from_the_published_programme(tables: None) -> None:
    from chalicelib.domain.programme import Programme
    from chalicelib.services import programme
    from chalicelib.store import programme_repo

    document = programme.configured().model_dump(mode="json")
    document["tiers"][1]["benefits"]["birthday_points"] = 188  # 银卡
    programme_repo.publish(
        None, Programme.model_validate(document, strict=False).model_dump(mode="json"), "t", "t", None
    )
    programme.forget()
    ivy = member("m_ivy", birthday=date(1990, 12, 1), tier_code="silver")

    run_job("birthday-gifts", datetime(2026, 11, 30, 16, 30, tzinfo=UTC))

    assert members_repo.get_member(ivy).balance == 188
