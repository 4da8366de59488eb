"""Coupon stock and limits under concurrency, against the embedded moto server: no oversell
(the claim and the stock decrement are one transaction), no limit breach, one coupon per
key, and a stock edit racing claims never takes the stock below what was claimed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.coupons import CouponRefused
from chalicelib.domain.members import Member
from chalicelib.services import coupon_templates, coupons
from chalicelib.store import coupon_templates_repo, coupons_repo, members_repo
from tests.support.race import race

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # noon in Shanghai


def _members(count: int, prefix: str = "m") -> list[str]:
    ids = [f"{prefix}{n:02d}" for n in range(count)]
    for member_id in ids:
        members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:{member_id}"])
    return ids


def _template(key: str, stock: int, shards: int | None = None, **changes: Any) -> str:
    data = {
        "name": "限时抢券",
        "benefit": {"kind": "no_threshold", "amount_off_fen": 1000},
        "validity": {"kind": "days_after_claim", "days": 7},
        "stock": stock,
        **changes,
    }
    return coupon_templates.create("alice", data, shards, key, NOW).template.template_id


def _outcomes(results: list[Any]) -> Counter[str]:
    return Counter(r.code if isinstance(r, CouponRefused) else type(r).__name__ for r in results)


def _held(member_ids: list[str]) -> int:
    return sum(len(coupons_repo.member_coupons(member_id)) for member_id in member_ids)


def test_fifty_members_racing_for_a_stock_of_ten_get_exactly_ten_and_the_rest_hear_sold_out(tables: None) -> None:
    members = _members(50)
    template_id = _template("flash", 10)

    results = race([lambda m=m: coupons.claim(template_id, m, "k1", NOW) for m in members])

    assert _outcomes(results) == {"Coupon": 10, "coupon_sold_out": 40}, results
    stock = coupon_templates.view(template_id).stock
    assert (stock.stock, stock.claimed, stock.remaining) == (10, 10, 0)
    assert _held(members) == 10
    assert len({r.code for r in results if not isinstance(r, Exception)}) == 10


def test_a_sharded_stock_of_ten_is_not_oversold_either(tables: None) -> None:
    members = _members(50)
    template_id = _template("sharded", 10, shards=4)

    results = race([lambda m=m: coupons.claim(template_id, m, "k1", NOW) for m in members])

    assert _outcomes(results) == {"Coupon": 10, "coupon_sold_out": 40}, results
    shards = coupon_templates_repo.load_shards(template_id, 4)
    assert [s.remaining for s in shards] == [0, 0, 0, 0] and sum(s.claimed for s in shards) == 10


def test_twenty_claims_of_one_member_with_a_limit_of_two_give_exactly_two(tables: None) -> None:
    (member,) = _members(1)
    template_id = _template("limit", 1000, per_member_limit=2)

    results = race([lambda n=n: coupons.claim(template_id, member, f"k{n}", NOW) for n in range(20)])

    assert _outcomes(results) == {"Coupon": 2, "coupon_limit_reached": 18}, results
    assert _held([member]) == 2
    assert coupon_templates.view(template_id).stock.claimed == 2


def test_the_same_idempotency_key_replayed_at_once_claims_one_coupon(tables: None) -> None:
    (member,) = _members(1)
    template_id = _template("replay", 5)

    results = race([lambda: coupons.claim(template_id, member, "same", NOW) for _ in range(12)])

    assert all(not isinstance(r, Exception) for r in results), results
    assert len({(r.coupon_id, r.code) for r in results}) == 1
    assert _held([member]) == 1 and coupon_templates.view(template_id).stock.remaining == 4


def test_the_last_coupon_of_a_replayed_claim_is_answered_not_sold_out(tables: None) -> None:
    (member,) = _members(1)
    template_id = _template("last", 1)

    results = race([lambda: coupons.claim(template_id, member, "same", NOW) for _ in range(8)])

    assert _outcomes(results) == {"Coupon": 8}, results


def test_lowering_the_stock_while_members_claim_never_goes_below_what_was_claimed(tables: None) -> None:
    members = _members(30)
    template_id = _template("edit", 20, shards=3)
    data = coupon_templates.view(template_id)
    lowered = {
        "name": data.template.definition.terms.name,
        "benefit": {"kind": "no_threshold", "amount_off_fen": 1000},
        "validity": {"kind": "days_after_claim", "days": 7},
        "stock": 8,
    }

    calls = [lambda m=m: coupons.claim(template_id, m, "k1", NOW) for m in members]
    calls.insert(10, lambda: coupon_templates.edit(template_id, lowered, 1, "bob", NOW))
    results = race(calls)

    edit = results[10]
    claimed = [r for r in results if type(r).__name__ == "Coupon"]
    stock = coupon_templates.view(template_id).stock
    assert stock.stock == stock.claimed + stock.remaining and stock.remaining >= 0
    assert stock.claimed == len(claimed) == _held(members)
    shards = coupon_templates_repo.load_shards(template_id, 3)
    assert all(s.remaining >= 0 for s in shards)
    if isinstance(edit, Exception):  # the claims got there first: refused, the stock untouched
        assert getattr(edit, "code", "") == "coupon_stock_below_claimed", edit
        assert stock.stock == 20 and len(claimed) > 8
    else:
        assert stock.stock == 8 and len(claimed) <= 8


def test_two_operators_editing_from_one_version_one_wins_the_other_hears_409(tables: None) -> None:
    template_id = _template("edits", 100)
    base = {
        "name": "限时抢券",
        "benefit": {"kind": "no_threshold", "amount_off_fen": 1000},
        "validity": {"kind": "days_after_claim", "days": 7},
    }

    results = race(
        [lambda n=n: coupon_templates.edit(template_id, {**base, "stock": 100 + n}, 1, "bob", NOW) for n in range(6)]
    )

    assert _outcomes(results) == {"TemplateView": 1, "coupon_template_version_conflict": 5}, results
    view = coupon_templates.view(template_id)
    assert view.template.version == 2 and view.stock.stock == view.template.definition.stock


def _claims_land_after_the_edits_read(monkeypatch: Any, template_id: str, members: list[str]) -> None:
    """The edit's first read of the shards is followed, before its commit, by these claims."""
    real = coupon_templates_repo.load_shards
    landed: list[bool] = []

    def stale_read(read_id: str, count: int) -> list[coupon_templates_repo.Shard]:
        shards = real(read_id, count)
        if not landed:
            landed.append(True)
            for member in members:
                coupons.claim(template_id, member, "k1", NOW)
        return shards

    monkeypatch.setattr(coupon_templates_repo, "load_shards", stale_read)


def _lower(template_id: str, stock: int) -> Any:
    data = {
        "name": "限时抢券",
        "benefit": {"kind": "no_threshold", "amount_off_fen": 1000},
        "validity": {"kind": "days_after_claim", "days": 7},
        "stock": stock,
    }
    try:
        return coupon_templates.edit(template_id, data, 1, "bob", NOW)
    except CouponRefused as refused:
        return refused


def test_a_lowering_planned_before_claims_landed_is_planned_again_and_fits_what_is_left(
    tables: None, monkeypatch: Any
) -> None:
    template_id = _template("replan", 10)
    _claims_land_after_the_edits_read(monkeypatch, template_id, _members(2))

    edited = _lower(template_id, 7)

    assert not isinstance(edited, Exception), edited
    stock = coupon_templates.view(template_id).stock
    assert (stock.stock, stock.claimed, stock.remaining) == (7, 2, 5)


def test_a_lowering_that_claims_overtook_is_refused_and_leaves_the_stock_whole(tables: None, monkeypatch: Any) -> None:
    template_id = _template("overtaken", 10)
    _claims_land_after_the_edits_read(monkeypatch, template_id, _members(5))

    refused = _lower(template_id, 2)  # planned from 10 unclaimed: takes 8 of the 5 left

    assert isinstance(refused, CouponRefused) and refused.code == "coupon_stock_below_claimed"
    stock = coupon_templates.view(template_id).stock
    assert (stock.stock, stock.claimed, stock.remaining) == (10, 5, 5)
    assert coupon_templates.view(template_id).template.version == 1
