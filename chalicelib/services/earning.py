"""An order's points at the member's tier (会员等级倍率), by the programme's earning rules.

The member's tier is known only once the points plan reads the member. So the points are
planned at an assumed tier (the programme's default tier first) and the plan checks them
against the tier of the member version it read, the version the commit is guarded by. When
that tier earns otherwise, the operation is planned again at that tier. So:

- the tier that counts is the member's tier when the order's points are committed; an
  upgrade the order itself earns applies from the next order;
- a member whose tier earns like the default tier costs nothing more; one whose tier has
  another multiplier costs one more read of the member (the first plan's);
- no plan ever commits points computed from another version's tier.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from chalicelib.domain.earning import Earning, OrderFacts, TierBoost, evaluate
from chalicelib.domain.errors import Busy
from chalicelib.domain.ledger import EntryNote, LedgerEntry, PointsChange
from chalicelib.domain.members import Member
from chalicelib.domain.points import ExpiryPolicy
from chalicelib.services import points

if TYPE_CHECKING:
    from chalicelib.domain.programme import Programme

TIER_ATTEMPTS = 3  # each attempt follows the tier the previous plan found


@dataclass(frozen=True)
class OrderEarning:
    """What an order earns with, taken at the order's entry."""

    rules: Programme
    facts: OrderFacts
    growth: int
    earned_on: date
    expiry: ExpiryPolicy
    pending_until: date | None  # the return window's end (冻结期), or None: spendable at once
    note: EntryNote
    events: points.Decorator  # the order's outbox events, staged after the points are known


class _TierMoved(Exception):
    """The member's tier (in the version read) earns otherwise than the plan assumed. Not a
    DomainError: the points engine must not answer it with a replay."""

    def __init__(self, tier_code: str) -> None:
        super().__init__(tier_code)
        self.tier_code = tier_code


def earn_order(member_id: str, op: points.Operation, order: OrderEarning) -> LedgerEntry:
    rules = order.rules
    boosts = {tier.code: TierBoost(tier.code, tier.name, tier.benefits.points_multiplier) for tier in rules.tiers}
    tier_code = rules.default_tier
    for _ in range(TIER_ATTEMPTS):
        planned = evaluate(rules.earning, order.facts, boosts.get(tier_code)).points
        try:
            return points.earn_with_growth(
                member_id,
                planned,
                order.growth,
                op,
                earned_on=order.earned_on,
                expiry=order.expiry,
                pending_until=order.pending_until,
                decorate=_at_member_tier(order, boosts, planned),
                note=order.note,
            )
        except _TierMoved as moved:
            tier_code = moved.tier_code
    raise Busy(f"member {member_id}: the tier kept changing")


def _at_member_tier(order: OrderEarning, boosts: dict[str, TierBoost], planned: int) -> points.Decorator:
    """Checks the planned points against the member's tier, records how they were earned (rule
    by rule, line by line) on the entry, then stages the order's events."""

    def decorate(member: Member, change: PointsChange) -> PointsChange:
        earning = evaluate(order.rules.earning, order.facts, boosts.get(member.tier_code))
        if earning.points != planned:
            raise _TierMoved(member.tier_code)
        detail = {**change.entry.detail, **earning_detail(earning, order.facts)}
        change.entry = replace(change.entry, detail=detail)
        return order.events(member, change)

    return decorate


def earning_detail(earning: Earning, facts: OrderFacts) -> dict[str, Any]:
    """On the order's ledger entry: the points, their explanation, and each line's share (what
    a refund of the line takes back) with its refund tally."""
    detail: dict[str, Any] = {
        "earned": earning.points,
        "explanation": earning.explanation(),
        "explanation_text": earning.text,
    }
    if facts.lines:
        detail["lines"] = [
            {
                "line_id": line.line_id,
                "sku": line.sku,
                "category": line.category,
                "amount_fen": line.amount_fen,
                "earned": earning.per_line[line.line_id],
                "refunded_fen": 0,
            }
            for line in facts.lines
        ]
    return detail
