"""Earning rules (积分规则): how many points an order earns, and why.

Pure: the programme's `EarningRules`, the member's tier boost and the order's facts in, the
points and their explanation out. The combination rule, in full:

1. Excluded lines (SKU or category) earn nothing and count for nothing. What is left is the
   order's *eligible spend*; below `min_order_fen` the order earns nothing at all.
2. Base (基础): the eligible spend in units of `unit_fen`, rounded by `rounding` (floor: only
   whole units earn, the rule before programmes), times `points_per_unit`.
3. Tier (会员等级倍率): a tier multiplier of m % adds base × (m - 100) %.
4. Promotions (活动) in force on the day paid (the brand's calendar), at the store, on at
   least one eligible line (its SKUs or categories, or any line when it names none): a
   multiplier of m % adds (the base of the lines it matches) × (m - 100) %; a bonus adds
   its fixed points once per order. Multipliers never compound: tier and promotions each
   add a share of the base. `best` keeps the single promotion giving the most (ties: higher
   priority, then code); `stack` adds every one, listed by priority.
5. A cap (`max_points_per_order`), when set, trims the total.

Rounding happens once per rule, on that rule's whole matching spend for the order, never line
by line (three ¥0.99 lines earn like one ¥2.97 order), with the programme's `rounding` mode.
Each rule's points are then split over the lines it covered, in proportion (largest remainder),
so the lines' points always add up to the order's: a refund of a line takes back its share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.points import allocate

if TYPE_CHECKING:
    from chalicelib.domain.programme import EarningRules, Promotion

BASE_LABEL = "基础"
BELOW_MINIMUM_LABEL = "未达起积金额"
CAP_LABEL = "单笔封顶"
ORDER_LINE = ""  # the one line of an order reported without lines

Rounding = Literal["floor", "round", "ceil"]


@dataclass(frozen=True)
class OrderLine:
    line_id: str
    sku: str | None
    category: str | None
    amount_fen: int
    quantity: int = 1


@dataclass(frozen=True)
class OrderFacts:
    """What the rules look at: the amount, the day paid (local), the store, the lines if given."""

    amount_fen: int
    paid_on: date
    store_id: str | None = None
    lines: tuple[OrderLine, ...] = ()


@dataclass(frozen=True)
class TierBoost:
    code: str
    name: str
    multiplier: int  # in %: 200 is ×2


@dataclass(frozen=True)
class Part:
    """One rule's contribution: `rule` for machines (`promotion:d15`), `label` for members."""

    rule: str
    label: str
    points: int


@dataclass(frozen=True)
class Earning:
    points: int
    parts: tuple[Part, ...]
    per_line: dict[str, int] = field(default_factory=dict)  # line_id → points (orders with lines)

    @property
    def text(self) -> str:
        """`基础 12 + 银卡×2 12 + 会员日 24`, and the cap when it trimmed: `，单笔封顶 1000`."""
        if self.parts and self.parts[0].rule == "min_order":
            return self.parts[0].label
        shown = " + ".join(f"{part.label} {part.points}" for part in self.parts if part.rule != "cap")
        capped = [part for part in self.parts if part.rule == "cap"]
        return shown + (f"，{capped[0].label}" if capped else "")

    def explanation(self) -> list[dict[str, Any]]:
        return [{"rule": part.rule, "points": part.points} for part in self.parts]


def check_lines(amount_fen: int, lines: tuple[OrderLine, ...]) -> None:
    """Lines, when given, have unique ids and add up to the order's amount."""
    if not lines:
        return
    if len({line.line_id for line in lines}) != len(lines):
        raise InvalidInput("line ids must be unique", field="lines")
    if sum(line.amount_fen for line in lines) != amount_fen:
        raise InvalidInput("the line amounts must add up to amount_fen", field="lines")


def evaluate(rules: EarningRules, order: OrderFacts, tier: TierBoost | None = None) -> Earning:
    lines = order.lines or (OrderLine(ORDER_LINE, None, None, order.amount_fen),)
    eligible = [line for line in lines if not _excluded(rules, line)]
    spend = sum(line.amount_fen for line in eligible)
    if spend < rules.min_order_fen:
        below = Part("min_order", f"{BELOW_MINIMUM_LABEL}（满 {_yuan(rules.min_order_fen)} 起积）", 0)
        return _earning(order, (below,), {})
    tally = _Tally({line.line_id: 0 for line in lines})
    base = _divide(spend, rules.unit_fen, rules.rounding) * rules.points_per_unit
    base_by_line = dict(zip((line.line_id for line in eligible), allocate(base, _amounts(eligible)), strict=True))
    parts = [Part("base", BASE_LABEL, tally.add(base, base_by_line))]
    if tier is not None and tier.multiplier > 100:
        extra = _divide(base * (tier.multiplier - 100), 100, rules.rounding)
        times = _times(tier.multiplier)
        parts.append(Part(f"tier:{tier.code} {times}", f"{tier.name}{times}", extra))
        tally.spread(extra, eligible, base_by_line)
    for promotion, points, covered in _promotions(rules, order, eligible, base_by_line):
        parts.append(Part(f"promotion:{promotion.code}", promotion.name, points))
        tally.spread(points, covered, base_by_line if promotion.multiplier else None)
    parts = [part for part in parts if part.points or part.rule == "base"]
    cap = rules.max_points_per_order
    if cap is not None and tally.total > cap:
        parts.append(Part("cap", f"{CAP_LABEL} {cap}", cap - tally.total))
        tally.trim_to(cap)
    return _earning(order, tuple(parts), tally.by_line)


class _Tally:
    """Points by line, as each rule's points are split over the lines it covered."""

    def __init__(self, by_line: dict[str, int]) -> None:
        self.by_line = by_line

    @property
    def total(self) -> int:
        return sum(self.by_line.values())

    def add(self, points: int, shares: dict[str, int]) -> int:
        for line_id, share in shares.items():
            self.by_line[line_id] += share
        return points

    def spread(self, points: int, lines: list[OrderLine], base_by_line: dict[str, int] | None) -> None:
        """In proportion to the lines' base (a multiplier), or to their amounts (a bonus)."""
        weights = [base_by_line[line.line_id] for line in lines] if base_by_line is not None else _amounts(lines)
        self.add(points, dict(zip((line.line_id for line in lines), allocate(points, weights), strict=True)))

    def trim_to(self, cap: int) -> None:
        ids = list(self.by_line)
        self.by_line = dict(zip(ids, allocate(cap, [self.by_line[i] for i in ids]), strict=True))


def _earning(order: OrderFacts, parts: tuple[Part, ...], by_line: dict[str, int]) -> Earning:
    points = sum(part.points for part in parts)
    per_line = {line.line_id: by_line.get(line.line_id, 0) for line in order.lines}
    return Earning(points, parts, per_line)


def _promotions(
    rules: EarningRules, order: OrderFacts, eligible: list[OrderLine], base_by_line: dict[str, int]
) -> list[tuple[Promotion, int, list[OrderLine]]]:
    """The promotions that give points, in the order they apply: by priority (then code)."""
    found = []
    for promotion in sorted(rules.promotions, key=lambda p: (-p.priority, p.code)):
        covered = [line for line in eligible if _covers(promotion, line)] if _in_force(promotion, order) else []
        if not covered:
            continue
        if promotion.multiplier is not None:
            matched_base = sum(base_by_line[line.line_id] for line in covered)
            points = _divide(matched_base * (promotion.multiplier - 100), 100, rules.rounding)
        else:
            points = promotion.bonus_points or 0
        if points > 0:
            found.append((promotion, points, covered))
    if rules.combine == "best" and found:
        return sorted(found, key=lambda item: (-item[1], -item[0].priority, item[0].code))[:1]
    return found


def _in_force(promotion: Promotion, order: OrderFacts) -> bool:
    day = order.paid_on
    return (
        (promotion.starts_on is None or promotion.starts_on <= day)
        and (promotion.ends_on is None or day <= promotion.ends_on)
        and (not promotion.weekdays or day.isoweekday() in promotion.weekdays)
        and (not promotion.days_of_month or day.day in promotion.days_of_month)
        and (not promotion.store_ids or order.store_id in promotion.store_ids)
    )


def _covers(promotion: Promotion, line: OrderLine) -> bool:
    """A promotion naming SKUs or categories covers the lines with either; an order reported
    without lines has none, so only a promotion naming neither covers it."""
    if not promotion.skus and not promotion.categories:
        return True
    return (line.sku is not None and line.sku in promotion.skus) or (
        line.category is not None and line.category in promotion.categories
    )


def _excluded(rules: EarningRules, line: OrderLine) -> bool:
    return (line.sku is not None and line.sku in rules.excluded_skus) or (
        line.category is not None and line.category in rules.excluded_categories
    )


def _amounts(lines: list[OrderLine]) -> list[int]:
    return [line.amount_fen for line in lines]


def _divide(numerator: int, denominator: int, rounding: Rounding) -> int:
    """Integer division rounded by the programme's mode; `round` is half up."""
    if rounding == "ceil":
        return -(-numerator // denominator)
    if rounding == "round":
        return (2 * numerator + denominator) // (2 * denominator)
    return numerator // denominator


def _times(multiplier: int) -> str:
    """`×2`, `×1.5`, `×1.25` from a multiplier in %."""
    whole, hundredths = divmod(multiplier, 100)
    return f"×{whole}" if not hundredths else f"×{whole}.{hundredths:02d}".rstrip("0")


def _yuan(fen: int) -> str:
    whole, cents = divmod(fen, 100)
    return f"¥{whole}" if not cents else f"¥{whole}.{cents:02d}"
