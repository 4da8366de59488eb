"""Tier benefit packs (等级权益券包): on the 1st of each month every member of a tier gets its
coupons (金卡: two 满200减30), once per member, month and coupon, whatever re-runs, missed days
or crashes; members merged away, closed or now on another tier get nothing; a template that
cannot give is counted and the others go on; a programme naming an unknown template is refused."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.domain.coupons import TemplateStatus
from chalicelib.domain.members import Member
from chalicelib.domain.programme import Programme
from chalicelib.jobs import daily, tier_packs
from chalicelib.jobs.runner import run_job
from chalicelib.services import coupon_templates, coupons, programme
from chalicelib.store import coupons_repo, members_repo, programme_repo
from chalicelib.store.models import CouponModel, JobStateModel, MemberModel
from tests.support.api import Api, dumps, operator_headers

SHANGHAI = timezone(timedelta(hours=8))
JOB = "tier-coupon-packs"
TIERS = {"normal": 0, "silver": 1, "gold": 2, "black": 3}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def template(key: str, now: datetime | None = None, **changes: Any) -> str:
    body = {
        "name": "满200减30",
        "benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 3000},
        "validity": {"kind": "days_after_claim", "days": 30},
        "stock": 1000,
        **changes,
    }
    return coupon_templates.create("alice", body, None, key, now or at("2026-11-20 10:00")).template.template_id


def packs_document(packs: dict[str, list[dict[str, Any]]], birthday: dict[str, str] | None = None) -> dict[str, Any]:
    document = programme.configured().model_dump(mode="json")
    for code, entries in packs.items():
        document["tiers"][TIERS[code]]["benefits"]["monthly_coupons"] = entries
    for code, template_id in (birthday or {}).items():
        document["tiers"][TIERS[code]]["benefits"]["birthday_coupon_template"] = template_id
    return document


def publish(packs: dict[str, list[dict[str, Any]]], *, checked: bool = True) -> None:
    """Through the service (its template check) or, `checked=False`, straight into the store."""
    document = Programme.model_validate(packs_document(packs), strict=False)
    if checked:
        programme.publish(document, programme_repo.current_version(), "alice", at("2026-11-20 10:00"), None)
    else:
        programme_repo.publish(programme_repo.current_version(), document.model_dump(mode="json"), "t", "t", None)
    programme.forget()


def member(member_id: str, tier: str) -> str:
    members_repo.create_member(Member(member_id, "2025-01-01T00:00:00Z", tier_code=tier), [])
    return member_id


def held(member_id: str) -> list[tuple[str, str]]:
    return sorted((c.template_id, c.source) for c in coupons_repo.member_coupons(member_id))


# --- the pack ---------------------------------------------------------------------------------


def test_each_member_of_the_tier_gets_its_pack_on_the_first_once(tables: None) -> None:
    t30, t10 = template("t30"), template("t10", name="满100减10")
    publish({"gold": [{"template_id": t30, "count": 2}], "silver": [{"template_id": t10, "count": 1}]})
    golds = [member(f"m_gold{n}", "gold") for n in range(3)]
    silver, normal = member("m_silver", "silver"), member("m_normal", "normal")

    counts = run_job(JOB, at("2026-12-01 00:40"))
    again = run_job(JOB, at("2026-12-01 12:00"))
    JobStateModel(JOB).delete()  # even with the watermark lost, the month's keys give nothing twice
    lost = run_job(JOB, at("2026-12-01 18:00"))

    for gold in golds:
        assert held(gold) == [(t30, "grant:tier_pack")] * 2
    assert held(silver) == [(t10, "grant:tier_pack")]
    assert held(normal) == []
    assert (counts["coupons"], counts["members"]) == (7, 4)
    assert again == {}  # the day is done: nothing read, nothing granted
    assert lost["coupons"] == 7 and sum(len(held(m)) for m in [*golds, silver]) == 7  # replays, not new ones


def test_no_pack_on_other_days_a_missed_first_is_caught_up_and_each_month_brings_its_own(tables: None) -> None:
    t30 = template("t30")
    publish({"gold": [{"template_id": t30, "count": 2}]})
    gold = member("m_gold", "gold")

    run_job(JOB, at("2026-11-30 00:40"))
    assert held(gold) == []
    caught_up = run_job(JOB, at("2026-12-03 00:40"))  # the 1st and the 2nd were missed
    run_job(JOB, at("2027-01-01 00:40"))

    assert caught_up["days"] == 3 and caught_up["coupons"] == 2
    requests = [item.request for item in CouponModel.query(gold)]
    assert len(requests) == 4
    assert sum("2026-12" in r for r in requests) == sum("2027-01" in r for r in requests) == 2  # Shanghai months


def test_members_merged_closed_or_on_another_tier_get_nothing(tables: None) -> None:
    t30 = template("t30")
    publish({"gold": [{"template_id": t30, "count": 1}]})
    kept = member("m_kept", "gold")
    merged, closed = member("m_merged", "gold"), member("m_closed", "gold")
    MemberModel(merged).update(actions=[MemberModel.merged_into.set(kept)])
    MemberModel(closed).update(actions=[MemberModel.status.set("deleted")])

    counts = run_job(JOB, at("2026-12-01 00:40"))

    assert held(kept) == [(t30, "grant:tier_pack")]
    assert held(merged) == held(closed) == []
    assert counts["members_skipped"] == 2 and counts["coupons"] == 1


def test_a_page_of_the_tier_read_from_a_lagging_index_gives_the_tier_the_member_holds_now(tables: None) -> None:
    t30, t10 = template("t30"), template("t10", name="满100减10")
    publish({"gold": [{"template_id": t30, "count": 1}], "silver": [{"template_id": t10, "count": 1}]})
    moved = member("m_moved", "silver")
    page = tier_packs.sources(at("2026-12-01 00:40").date(), at("2026-12-01 00:40"))
    by_tier = {source.key: source for source in page}

    by_tier["tier:gold"].handle([moved])  # the gold index still listed them: they are silver now

    assert held(moved) == []
    by_tier["tier:silver"].handle([moved])
    assert held(moved) == [(t10, "grant:tier_pack")]


def test_the_tier_is_paged_through_the_index_and_a_crashed_run_is_finished_without_doubles(
    tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    t30 = template("t30")
    publish({"gold": [{"template_id": t30, "count": 2}]})
    golds = [member(f"m_g{n}", "gold") for n in range(7)]
    monkeypatch.setattr(daily, "PAGE_SIZE", 2)
    real_grant, calls = coupons.grant, []

    def failing_grant(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 7:
            raise RuntimeError("the Lambda died here")
        return real_grant(*args, **kwargs)

    monkeypatch.setattr(coupons, "grant", failing_grant)
    with pytest.raises(RuntimeError):
        run_job(JOB, at("2026-12-01 00:40"))
    assert JobStateModel.get(JOB).detail["source"] == "tier:gold"  # the checkpoint
    finished = run_job(JOB, at("2026-12-02 00:40"))

    assert [len(held(gold)) for gold in golds] == [2] * 7
    assert finished["days"] == 2


# --- templates that cannot give ---------------------------------------------------------------


def test_a_template_that_cannot_give_is_counted_and_the_other_coupons_still_go(tables: None) -> None:
    paused, scarce, fine = template("paused"), template("scarce", stock=1), template("fine")
    once = template("once", per_member_limit=1)
    coupon_templates.set_status(paused, TemplateStatus.PAUSED, "alice", at("2026-11-20 10:00"))
    packs = [{"template_id": t, "count": 2} for t in (paused, scarce, once, fine)]
    publish({"gold": packs})
    golds = [member(f"m_g{n}", "gold") for n in range(3)]

    counts = run_job(JOB, at("2026-12-01 00:40"))

    by_template = [sorted(t for t, _ in held(gold)) for gold in golds]
    assert sum(row.count(scarce) for row in by_template) == 1  # the stock of one, once
    assert all(row.count(fine) == 2 and row.count(once) == 1 and paused not in row for row in by_template)
    # paused: asked once, then not again this run; sold out: once; the limit: once per member
    assert counts["coupon_refused"] == 1 + 1 + 3
    assert counts["coupons"] == 1 + 3 * (1 + 2)
    assert counts["coupons_skipped"] == (2 * 3 - 1) + (2 * 3 - 2)


def test_an_unknown_template_in_the_store_is_counted_not_fatal(tables: None) -> None:
    fine = template("fine")
    publish({"gold": [{"template_id": "ct_gone", "count": 2}, {"template_id": fine}]}, checked=False)
    gold = member("m_gold", "gold")

    counts = run_job(JOB, at("2026-12-01 00:40"))

    assert held(gold) == [(fine, "grant:tier_pack")]
    assert counts["coupon_unknown"] == 1 and counts["days"] == 1


# --- the programme -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("benefits", "field"),
    [
        ({"monthly_coupons": [{"template_id": "ct_nope", "count": 2}]}, "monthly_coupons.0.template_id"),
        ({"birthday_coupon_template": "ct_nope"}, "birthday_coupon_template"),
        ({"monthly_coupons": [{"template_id": "KNOWN", "count": 11}]}, "monthly_coupons.0.count"),
        ({"monthly_coupons": [{"template_id": "KNOWN", "count": 0}]}, "monthly_coupons.0.count"),
        ({"monthly_coupons": [{"template_id": "KNOWN"}, {"template_id": "KNOWN", "count": 2}]}, "monthly_coupons"),
    ],
)
def test_a_programme_naming_an_unknown_template_or_a_bad_count_is_refused_naming_the_field(
    api: Api, benefits: dict[str, Any], field: str
) -> None:
    known = template("known")
    document = packs_document({})
    document["tiers"][2]["benefits"].update(json.loads(json.dumps(benefits).replace("KNOWN", known)))
    body = dumps({"base_version": None, "note": "packs", "programme": document})

    response = api.http.put("/admin/programme", body=body, headers=operator_headers())

    assert response.status_code == 400, response.body
    assert f"programme.tiers.2.benefits.{field}" in [f["field"] for f in response.json_body["error"]["fields"]]
    assert programme_repo.current_version() is None


def test_a_programme_naming_known_templates_is_published_and_shown(api: Api) -> None:
    known, paused = template("known"), template("paused")
    coupon_templates.set_status(paused, TemplateStatus.PAUSED, "alice", at("2026-11-20 10:00"))
    document = packs_document({"gold": [{"template_id": known, "count": 2}]}, birthday={"gold": paused})
    body = dumps({"base_version": None, "note": "packs", "programme": document})

    response = api.http.put("/admin/programme", body=body, headers=operator_headers())

    assert response.status_code == 201, response.body
    gold = programme.current().tier("gold")
    assert gold is not None and gold.benefits.monthly_coupons[0].count == 2
    assert gold.benefits.birthday_coupon_template == paused  # paused is a state, not a mistake
