"""Tier packs and coupon moves under concurrency, against the embedded moto server: two runs of
the pack job at once (past the lease, as after a lease expired under a slow run) grant each
member's coupons once and take the stock once; a merge racing uses of the merged member's
coupon leaves one coupon, used at most once, under the survivor."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib.domain.coupons import CouponStatus
from chalicelib.domain.members import Member
from chalicelib.domain.programme import Programme
from chalicelib.jobs import tier_packs
from chalicelib.jobs.runner import run_job
from chalicelib.services import coupon_templates, coupons, identity, programme
from chalicelib.store import coupons_repo, members_repo, programme_repo
from chalicelib.store.models import CouponCodeModel, CouponModel
from tests.support.race import race

SHANGHAI = timezone(timedelta(hours=8))
FIRST = datetime(2026, 12, 1, 0, 40, tzinfo=SHANGHAI)


def _template(key: str, stock: int) -> str:
    data = {
        "name": "金卡月券",
        "benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 3000},
        "validity": {"kind": "days_after_claim", "days": 30},
        "stock": stock,
    }
    return coupon_templates.create("alice", data, None, key, FIRST - timedelta(days=5)).template.template_id


def _gold_pack(template_id: str, count: int) -> None:
    document = programme.configured().model_dump(mode="json")
    document["tiers"][2]["benefits"]["monthly_coupons"] = [{"template_id": template_id, "count": count}]
    valid = Programme.model_validate(document, strict=False).model_dump(mode="json")
    programme_repo.publish(programme_repo.current_version(), valid, "t", "tests", None)
    programme.forget()


def _members(count: int, prefix: str, tier: str = "normal") -> list[str]:
    ids = [f"{prefix}{n:02d}" for n in range(count)]
    for member_id in ids:
        members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z", tier_code=tier), [f"mini:{member_id}"])
    return ids


def test_two_pack_runs_at_once_grant_each_coupon_once(tables: None) -> None:
    template_id = _template("pack", 1000)
    _gold_pack(template_id, 2)
    golds = _members(12, "g", "gold")

    results = race([lambda: tier_packs.run(FIRST), lambda: tier_packs.run(FIRST)])
    leased = race([lambda: run_job("tier-coupon-packs", FIRST), lambda: run_job("tier-coupon-packs", FIRST)])

    assert not any(isinstance(r, Exception) for r in results + leased), results + leased
    assert [len(coupons_repo.member_coupons(g)) for g in golds] == [2] * 12
    stock = coupon_templates.view(template_id).stock
    assert (stock.claimed, stock.remaining) == (24, 1000 - 24)


def _use(code: str, now: datetime) -> bool:
    """A redemption's conditional update, resolving the code again once when it was refused."""
    for _ in range(2):
        coupon = coupons.resolve(code, now)
        if coupon.status_at(now) != CouponStatus.UNUSED:
            return False
        try:
            CouponModel(coupon.member_id, coupon.coupon_id).update(
                actions=[CouponModel.status.set("used")], condition=CouponModel.status == "unused"
            )
            return True
        except Exception:  # noqa: BLE001 - refused: used or moved meanwhile
            continue
    return False


def test_a_merge_racing_uses_of_the_merged_members_coupon_leaves_it_used_once_under_the_survivor(
    tables: None,
) -> None:
    template_id = _template("race", 100)
    for round_ in range(4):
        survivor, merged = _members(2, f"r{round_}-")
        code = coupons.grant(template_id, merged, "gift", FIRST, source="test").code

        def merge(survivor: str = survivor, merged: str = merged) -> Any:
            return identity.merge_members(survivor, merged, trigger="admin", now=FIRST, approved_by="bob")

        uses: list[Any] = [lambda code=code: _use(code, FIRST) for _ in range(3)]
        results = race([merge, *uses])

        assert not any(isinstance(r, Exception) for r in results), results
        assert results[1:].count(True) == 1, (round_, results)
        assert list(CouponModel.query(merged)) == []
        held = coupons_repo.member_coupons(survivor)
        assert [c.status for c in held] == [CouponStatus.USED] and held[0].code == code
        assert CouponCodeModel.get(code).member_id == survivor
