"""Merge rules (会员合并): lots join by expiry date, combined debt is repaid from the combined
lots, both sides' ledgers balance, and who survives."""

from __future__ import annotations

from datetime import date

from chalicelib.domain.ledger import TX_MAX_ITEMS, plan_merge_step
from chalicelib.domain.members import Member, choose_survivor, may_auto_merge
from chalicelib.domain.points import LotTake, PointsLot, merge_lots

JAN, FEB, MAR = date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31)


def _member(member_id: str, balance: int = 0, debt: int = 0, growth: int = 0, **extra: object) -> Member:
    member = Member(member_id, "2026-01-01T00:00:00Z", version=3, balance=balance, debt=debt, growth=growth)
    member.ledger_seq = 7
    for name, value in extra.items():
        setattr(member, name, value)
    return member


def _after(lots: list[PointsLot], takes: list[LotTake], adds: dict[date, int]) -> dict[date, int]:
    result = {lot.expires_on: lot.remaining for lot in lots}
    for take in takes:
        result[take.expires_on] -= take.taken
    for day, points in adds.items():
        result[day] = result.get(day, 0) + points
    return {day: points for day, points in result.items() if points}


def test_lots_with_the_same_expiry_become_one_lot() -> None:
    kept = [PointsLot(JAN, 10), PointsLot(MAR, 5)]
    takes, adds, repaid = merge_lots(kept, [PointsLot(JAN, 7), PointsLot(FEB, 3)], debt=0)
    assert repaid == 0 and takes == []
    assert adds == {JAN: 7, FEB: 3}


def test_combined_debt_is_repaid_from_the_earliest_lots_first() -> None:
    kept = [PointsLot(FEB, 10)]
    takes, adds, repaid = merge_lots(kept, [PointsLot(JAN, 4), PointsLot(MAR, 20)], debt=12)
    assert repaid == 12
    assert _after(kept, takes, adds) == {FEB: 2, MAR: 20}
    assert takes == [LotTake(FEB, 8, 10)], "the survivor's own lot shrinks under a guard"
    assert JAN not in adds, "a lot used up by the debt is never written"


def test_debt_larger_than_all_lots_leaves_the_rest_as_debt() -> None:
    takes, adds, repaid = merge_lots([PointsLot(JAN, 5)], [], debt=9)
    assert repaid == 5 and takes == [LotTake(JAN, 5, 5)] and adds == {}


def test_final_merge_step_balances_both_ledgers() -> None:
    survivor = _member("m_s", balance=-30, debt=30, growth=100, tier_code="silver")
    merged = _member("m_l", balance=50, growth=2500)
    merged_lots = [PointsLot(JAN, 20), PointsLot(FEB, 30)]
    change = plan_merge_step(survivor, [], merged, merged_lots, created_at="t", tier_code="silver")
    assert change.final
    out, into = change.merged, change.survivor
    assert (out.entry.entry_id, into.entry.entry_id) == ("merge:m_l:out", "merge:m_l:in")
    assert out.entry.delta == -50 and out.new_balance == 0 and out.new_debt == 0 and out.growth_delta == -2500
    assert into.entry.delta == 50 and into.new_balance == 20 and into.growth_delta == 2500
    assert into.new_debt == 0, "the survivor's debt is repaid from the lots that arrived"
    lots_after = _after([], into.lot_takes, into.lot_adds)
    assert sum(lots_after.values()) - into.new_debt == into.new_balance
    assert lots_after == {FEB: 20}
    assert {take.expires_on for take in out.lot_takes} == {JAN, FEB} and all(t.empties_lot for t in out.lot_takes)
    assert into.expected_version == 3 and into.entry.seq == 8 and into.tier_code is None


def test_merged_member_with_debt_hands_it_over() -> None:
    survivor = _member("m_s", balance=0)
    merged = _member("m_l", balance=-40, debt=40)
    change = plan_merge_step(survivor, [], merged, [], created_at="t", tier_code="normal")
    assert change.merged.entry.delta == 40 and change.merged.new_balance == 0
    assert change.survivor.new_balance == -40 and change.survivor.new_debt == 40


def test_too_many_lots_for_one_transaction_move_in_earlier_steps() -> None:
    survivor = _member("m_s")
    lots = [PointsLot(date(2027, 1, day), 10) for day in range(1, 14)]
    merged = _member("m_l", balance=130, growth=9)
    step = plan_merge_step(survivor, [], merged, lots, created_at="t", tier_code="normal")
    assert not step.final and step.items <= TX_MAX_ITEMS
    moved = len(step.merged.lot_takes)
    assert step.merged.entry.entry_id == "merge:m_l:out:8"
    assert step.merged.new_balance == 130 - 10 * moved and step.survivor.new_balance == 10 * moved
    assert step.merged.growth_delta == 0, "growth moves with the final step only"
    assert [take.expires_on for take in step.merged.lot_takes] == [lot.expires_on for lot in lots[:moved]]


def test_the_unionid_holder_survives_else_the_older_member() -> None:
    old, young = _member("m_old"), _member("m_young")
    young.created_at = "2026-06-01T00:00:00Z"
    assert choose_survivor(young, old, False, False) == (old, young)
    assert choose_survivor(old, young, False, True) == (young, old)


def test_different_unionids_are_never_merged_automatically() -> None:
    assert not may_auto_merge({"u_a"}, {"u_b"})
    assert may_auto_merge({"u_a"}, set())
    assert may_auto_merge(set(), set())
    assert may_auto_merge({"u_a"}, {"u_a"})
