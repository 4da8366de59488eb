"""The points mall under concurrency, against the embedded moto server: the points, the stock,
the member's count and the redemption are one transaction, so racing redemptions never take
the stock below zero nor a member past their limit; a partner code goes to one member; two
cancels at once give the points back once; a replayed key makes one redemption. Every member
reconciles after every race (balance = Σ ledger = Σ lots − debt)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.errors import DomainError
from chalicelib.domain.mall import RewardDefinition
from chalicelib.domain.mall_redemptions import Redemption, RedemptionStatus
from chalicelib.domain.members import Member
from chalicelib.services import mall, mall_admin, mall_fulfilment, points
from chalicelib.services.reconcile import reconcile
from chalicelib.store import mall_redemptions_repo, mall_repo, members_repo, points_repo
from tests.support.race import race

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # noon in Shanghai
ADDRESS = mall.address_of("张三", "13812345678", "广东省 深圳市 南山区", "科技园路1号")


def _members(count: int, balance: int = 1000, prefix: str = "m") -> list[str]:
    ids = [f"{prefix}{n:02d}" for n in range(count)]
    for member_id in ids:
        members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:{member_id}"])
        points.earn(member_id, balance, points.operation(f"seed:{member_id}", {"seed": balance}, NOW))
    return ids


def _reward(key: str, **changes: Any) -> str:
    data: dict[str, Any] = {"name": "保温杯", "item": {"kind": "physical", "stock": 5}, "points": 100, **changes}
    definition = RewardDefinition.model_validate(data, strict=False)
    return mall_admin.create("alice", definition, key, NOW).reward_id


def _redeem(member_id: str, reward_id: str, key: str = "k1", address: Any = ADDRESS) -> Any:
    return lambda: mall.redeem(member_id, mall.Wanted(reward_id, 1, address), key, NOW)


def _outcomes(results: list[Any]) -> Counter[str]:
    return Counter(r.code if isinstance(r, DomainError) else type(r).__name__ for r in results)


def _reconciled(member_ids: list[str]) -> None:
    assert list(reconcile(member_ids)) == []


def _held(member_ids: list[str]) -> list[Redemption]:
    return [r for member_id in member_ids for r in mall_redemptions_repo.of_member(member_id)]


def test_twenty_members_racing_for_a_stock_of_five_get_exactly_five_and_the_rest_hear_sold_out(tables: None) -> None:
    members = _members(20)
    reward_id = _reward("flash")

    results = race([_redeem(member_id, reward_id) for member_id in members])

    assert _outcomes(results) == {"Redemption": 5, "mall_sold_out": 15}, results
    stored = mall_repo.get(reward_id)
    assert (stored.remaining, stored.redeemed) == (0, 5)
    assert len(_held(members)) == 5
    assert sorted(members_repo.get_member(m).balance for m in members) == [900] * 5 + [1000] * 15
    _reconciled(members)


def test_eight_redemptions_of_one_member_with_a_limit_of_two_give_exactly_two(tables: None) -> None:
    (member_id,) = _members(1)
    reward_id = _reward("limit", item={"kind": "physical", "stock": 100}, per_member_limit=2)

    results = race([_redeem(member_id, reward_id, f"k{n}") for n in range(8)])

    assert _outcomes(results) == {"Redemption": 2, "mall_limit_reached": 6}, results
    assert members_repo.get_member(member_id).balance == 800
    assert mall_repo.get_count(reward_id, member_id).total == 2 and mall_repo.get(reward_id).remaining == 98
    _reconciled([member_id])


def test_eight_redemptions_of_one_member_with_a_period_limit_of_one_give_exactly_one(tables: None) -> None:
    (member_id,) = _members(1)
    reward_id = _reward("daily", item={"kind": "physical", "stock": 100}, per_period_limit=1, period="day")

    results = race([_redeem(member_id, reward_id, f"k{n}") for n in range(8)])

    assert _outcomes(results) == {"Redemption": 1, "mall_period_limit_reached": 7}, results
    _reconciled([member_id])


def test_the_same_key_replayed_eight_times_at_once_makes_one_redemption(tables: None) -> None:
    (member_id,) = _members(1)
    reward_id = _reward("replay")

    results = race([_redeem(member_id, reward_id, "same") for _ in range(8)])

    assert _outcomes(results) == {"Redemption": 8}, results
    assert len({r.redemption_id for r in results}) == 1
    assert members_repo.get_member(member_id).balance == 900 and mall_repo.get(reward_id).remaining == 4
    _reconciled([member_id])


def test_a_pool_of_five_partner_codes_under_twelve_members_gives_five_distinct_codes(tables: None) -> None:
    members = _members(12)
    reward_id = _reward("codes", item={"kind": "partner_code", "partner": "视频会员"})
    mall_admin.upload_codes(reward_id, [f"CODE-{n:04d}" for n in range(5)], NOW)

    results = race([_redeem(member_id, reward_id, address=None) for member_id in members])

    assert _outcomes(results) == {"Redemption": 5, "mall_sold_out": 7}, results
    codes = [r.partner_code for r in results if isinstance(r, Redemption)]
    assert sorted(codes) == [f"CODE-{n:04d}" for n in range(5)]  # type: ignore[type-var]
    assert mall_repo.get(reward_id).remaining == 0 and mall_repo.pool_sample(reward_id) == []
    _reconciled(members)


def test_cancels_racing_each_other_give_the_points_back_once(tables: None) -> None:
    (member_id,) = _members(1)
    reward_id = _reward("cancel")
    made = mall.redeem(member_id, mall.Wanted(reward_id, 1, ADDRESS), "k1", NOW)
    lots_before_refund = points_repo.load_lots(member_id)

    calls = [lambda: mall.cancel_mine(member_id, made.redemption_id, None, NOW) for _ in range(4)]
    calls += [lambda n=n: mall_fulfilment.cancel(made.redemption_id, "缺货", f"op{n}", NOW) for n in range(4)]
    results = race(calls)

    assert _outcomes(results) == {"Redemption": 8}, results
    assert {r.status for r in results} == {RedemptionStatus.CANCELLED}
    assert len(list(points_repo.iter_member_entries(member_id, kind="mall_refund"))) == 1
    assert members_repo.get_member(member_id).balance == 1000
    assert (
        sum(lot.remaining for lot in points_repo.load_lots(member_id))
        == 1000
        > sum(lot.remaining for lot in lots_before_refund)
    )
    stored = mall_repo.get(reward_id)
    assert (stored.remaining, stored.redeemed) == (5, 0) and mall_repo.get_count(reward_id, member_id).total == 0
    _reconciled([member_id])


def test_a_cancel_racing_the_shipment_either_cancels_or_ships_never_both(tables: None) -> None:
    (member_id,) = _members(1)
    reward_id = _reward("ship-or-cancel")
    made = mall.redeem(member_id, mall.Wanted(reward_id, 1, ADDRESS), "k1", NOW)

    results = race(
        [
            lambda: mall.cancel_mine(member_id, made.redemption_id, None, NOW),
            lambda: mall_fulfilment.ship(made.redemption_id, "顺丰速运", "SF0001", "alice", NOW),
        ]
    )

    final = mall_redemptions_repo.get(member_id, made.redemption_id)
    assert final is not None
    refunds = list(points_repo.iter_member_entries(member_id, kind="mall_refund"))
    if final.status == RedemptionStatus.CANCELLED:
        assert final.shipment is None and len(refunds) == 1 and isinstance(results[1], DomainError)
    else:
        assert final.status == RedemptionStatus.SHIPPED and refunds == [] and isinstance(results[0], DomainError)
    _reconciled([member_id])


def test_redemptions_racing_a_stock_lowering_never_take_the_stock_below_zero(tables: None) -> None:
    members = _members(12)
    reward_id = _reward("lower", item={"kind": "physical", "stock": 10})
    lowered = RewardDefinition.model_validate(
        {"name": "保温杯", "item": {"kind": "physical", "stock": 4}, "points": 100}, strict=False
    )

    calls: list[Any] = [_redeem(member_id, reward_id) for member_id in members]
    calls.insert(6, lambda: mall_admin.edit(reward_id, lowered, 1, "bob", NOW))
    results = race(calls)

    stored = mall_repo.get(reward_id)
    redeemed = [r for r in results if isinstance(r, Redemption)]
    assert stored.remaining >= 0 and stored.redeemed == len(redeemed) == len(_held(members))
    edit = results[6]
    if isinstance(edit, DomainError):  # the redemptions got there first: refused, the stock untouched
        assert edit.code in ("mall_stock_below_redeemed", "mall_version_conflict"), edit
        assert stored.redeemed + stored.remaining == 10
    else:
        assert stored.redeemed + stored.remaining == 4 and len(redeemed) <= 4
    _reconciled(members)


def test_a_shipment_landing_after_the_cancel_read_the_redemption_refuses_the_cancel(
    tables: None, monkeypatch: Any
) -> None:
    (member_id,) = _members(1)
    reward_id = _reward("overtaken")
    made = mall.redeem(member_id, mall.Wanted(reward_id, 1, ADDRESS), "k1", NOW)
    real = mall_redemptions_repo.get
    landed: list[bool] = []

    def stale_read(member: str, redemption_id: str) -> Redemption | None:
        found = real(member, redemption_id)
        if not landed:  # the cancel's plan read it pending; the parcel ships before it commits
            landed.append(True)
            mall_fulfilment.ship(redemption_id, "顺丰速运", "SF0002", "bob", NOW)
        return found

    monkeypatch.setattr(mall_redemptions_repo, "get", stale_read)

    with pytest.raises(DomainError) as refused:
        mall_fulfilment.cancel(made.redemption_id, "缺货", "alice", NOW)

    assert refused.value.code == "mall_already_shipped"
    final = real(member_id, made.redemption_id)
    assert final is not None and final.status == RedemptionStatus.SHIPPED and final.cancellation is None
    assert list(points_repo.iter_member_entries(member_id, kind="mall_refund")) == []
    assert members_repo.get_member(member_id).balance == 900 and mall_repo.get(reward_id).remaining == 4
    _reconciled([member_id])
