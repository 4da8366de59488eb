"""The tier's birthday coupon (生日券): granted by the birthday job with the points, once per member
and year; a template that cannot give is logged and counted and never fails the job; members
merged away or closed get none."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

from chalicelib.domain.coupons import TemplateStatus
from chalicelib.domain.members import Member
from chalicelib.domain.programme import Programme
from chalicelib.jobs.runner import run_job
from chalicelib.services import coupon_templates, programme
from chalicelib.store import coupons_repo, members_repo, programme_repo
from chalicelib.store.models import JobStateModel, MemberModel
from tests.integration.test_jobs import queued

SHANGHAI = timezone(timedelta(hours=8))
JOB = "birthday-gifts"
BIRTHDAY_RUN = datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI)
TIERS = {"normal": 0, "silver": 1, "gold": 2, "black": 3}


def template(key: str, **changes: Any) -> str:
    body = {
        "name": "生日满100减20",
        "benefit": {"kind": "amount_off", "threshold_fen": 10000, "amount_off_fen": 2000},
        "validity": {"kind": "days_after_claim", "days": 30},
        "stock": 100,
        **changes,
    }
    now = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)
    return coupon_templates.create("alice", body, None, key, now).template.template_id


def publish(birthday: dict[str, str]) -> None:
    """Straight into the store: the job must cope with whatever a stored programme names."""
    document = programme.configured().model_dump(mode="json")
    for code, template_id in birthday.items():
        document["tiers"][TIERS[code]]["benefits"]["birthday_coupon_template"] = template_id
    valid = Programme.model_validate(document, strict=False).model_dump(mode="json")
    programme_repo.publish(programme_repo.current_version(), valid, "t", "tests", None)
    programme.forget()


def member(member_id: str, tier: str = "normal") -> str:
    members_repo.create_member(
        Member(member_id, "2025-01-01T00:00:00Z", birthday=date(1990, 12, 1), tier_code=tier), []
    )
    return member_id


def held(member_id: str) -> list[tuple[str, str]]:
    return [(c.template_id, c.source) for c in coupons_repo.member_coupons(member_id)]


def test_the_tiers_birthday_coupon_comes_with_the_points_once_a_year(tables: None) -> None:
    gift = template("bday")
    publish({"silver": gift})
    ivy, june = member("m_ivy", "silver"), member("m_june")

    counts = run_job(JOB, BIRTHDAY_RUN)
    events = queued()
    JobStateModel(JOB).delete()  # the watermark lost: the same year gives nothing twice
    run_job(JOB, BIRTHDAY_RUN + timedelta(hours=12))

    assert held(ivy) == [(gift, "grant:birthday")]
    assert held(june) == []  # 普通会员 has no birthday coupon
    assert members_repo.get_member(ivy).balance == 100
    greeting = next(e for e in events if e["member_id"] == ivy)
    assert greeting["data"]["coupon"] == "生日满100减20" and greeting["data"]["points"] == 100
    assert counts["coupons"] == 1
    assert [e["event_id"] for e in queued() if e["member_id"] == ivy] == ["birthday:m_ivy:2026"]


def test_a_template_that_cannot_give_never_fails_the_job_and_the_points_still_go(tables: None) -> None:
    paused, scarce = template("paused"), template("scarce", stock=1)
    coupon_templates.set_status(paused, TemplateStatus.PAUSED, "alice", datetime(2026, 11, 20, tzinfo=SHANGHAI))
    publish({"normal": "ct_missing", "silver": paused, "gold": scarce})
    plain, silver = member("m_plain"), member("m_silver", "silver")
    golds = [member("m_gold1", "gold"), member("m_gold2", "gold")]

    counts = run_job(JOB, BIRTHDAY_RUN)

    assert counts["days"] == 1 and counts["items"] == 4
    assert (counts["coupon_unknown"], counts["coupon_refused"], counts["coupons"]) == (1, 2, 1)
    assert held(plain) == held(silver) == [] and sorted(len(held(g)) for g in golds) == [0, 1]
    assert [members_repo.get_member(m).balance for m in (plain, silver, *golds)] == [50, 100, 200, 200]


def test_members_merged_away_or_closed_get_no_birthday_coupon(tables: None) -> None:
    gift = template("bday")
    publish({"normal": gift})
    kept, merged, closed = member("m_kept"), member("m_merged"), member("m_closed")
    MemberModel(merged).update(actions=[MemberModel.merged_into.set(kept)])
    MemberModel(closed).update(actions=[MemberModel.status.set("deleted")])

    counts = run_job(JOB, BIRTHDAY_RUN)

    assert held(kept) == [(gift, "grant:birthday")]
    assert held(merged) == held(closed) == [] and held(kept) == [(gift, "grant:birthday")]
    assert counts["coupons"] == 1
