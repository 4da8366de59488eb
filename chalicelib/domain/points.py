"""Points (积分) rules: lots by expiry, expiry policies, earning, FIFO consumption, clawback.

Pure functions over integers and dates: no I/O, no floats.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from chalicelib.domain.errors import InsufficientPoints, InvalidInput, RefundExceedsOrder


@dataclass(frozen=True)
class PointsLot:
    """Points earned that share one expiry date (积分批次)."""

    expires_on: date
    remaining: int


@dataclass(frozen=True)
class LotTake:
    expires_on: date
    taken: int
    remaining_before: int

    @property
    def empties_lot(self) -> bool:
        return self.taken == self.remaining_before


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


@dataclass(frozen=True)
class RollingExpiry:
    """Points live N months, until the end of the month they fall due in."""

    months: int

    def expires_on(self, earned_on: date) -> date:
        year, month = _add_months(earned_on.year, earned_on.month, self.months)
        return _month_end(year, month)


@dataclass(frozen=True)
class AnnualClearing:
    """Points earned in year Y are cleared on a fixed date (month, day) of year Y + 1."""

    month: int
    day: int

    def expires_on(self, earned_on: date) -> date:
        year = earned_on.year + 1
        day = min(self.day, calendar.monthrange(year, self.month)[1])
        return date(year, self.month, day)


ExpiryPolicy = RollingExpiry | AnnualClearing


def parse_expiry_policy(text: str) -> ExpiryPolicy:
    """`rolling:12` or `annual:12-31`."""
    kind, _, arg = text.partition(":")
    try:
        if kind == "rolling":
            months = int(arg)
            if months < 1:
                raise ValueError(arg)
            return RollingExpiry(months)
        if kind == "annual":
            month, day = (int(part) for part in arg.split("-"))
            date(2024, month, day)  # validates, leap year so 02-29 is allowed
            return AnnualClearing(month, day)
    except ValueError:
        pass
    raise InvalidInput(f"bad points expiry policy {text!r}", field="POINTS_EXPIRY_POLICY")


def earning_day(paid_on: date, today: date, policy: ExpiryPolicy) -> date:
    """The day an order's points (and growth) are dated by: the day it was paid, in the
    brand's calendar, so an order paid at 23:58 on Nov 30 and reported after midnight expires
    with November's lots. A lot is never born expired: if the paid day's lot would already be
    past its date on the day of receipt, the points are dated by receipt instead."""
    if paid_on > today:
        raise InvalidInput("paid_at is in the future", field="paid_at")
    return paid_on if policy.expires_on(paid_on) >= today else today


def points_for_amount(amount_fen: int, points_per_unit: int, unit_fen: int) -> int:
    """Base earning rule: whole units of spend earn points, fractions are dropped."""
    if amount_fen < 0:
        raise InvalidInput("amount must not be negative", field="amount_fen")
    return (amount_fen // unit_fen) * points_per_unit


def clawback_for_refund(earned: int, amount_fen: int, refunded_before_fen: int, refund_fen: int) -> int:
    """Points to take back for a (partial) refund.

    Computed on cumulative refunds so that rounding never drifts: after refunds that add up
    to the whole order, exactly what the order earned has been taken back.
    """
    if amount_fen <= 0:
        return 0
    after = earned * (refunded_before_fen + refund_fen) // amount_fen
    before = earned * refunded_before_fen // amount_fen
    return after - before


def spendable(lots: list[PointsLot], today: date) -> list[PointsLot]:
    return sorted((lot for lot in lots if lot.expires_on >= today and lot.remaining > 0), key=_expiry)


def _expiry(lot: PointsLot) -> date:
    return lot.expires_on


def plan_consumption(lots: list[PointsLot], points: int, today: date) -> list[LotTake]:
    """Take `points` from lots, earliest expiry first. Raises InsufficientPoints."""
    if points <= 0:
        raise InvalidInput("points must be positive", field="points")
    takes, wanted = _take_fifo(lots, points, today)
    if wanted:
        raise InsufficientPoints(f"need {points}, have {points - wanted}")
    return takes


def plan_clawback(lots: list[PointsLot], points: int) -> tuple[list[LotTake], int]:
    """Take up to `points` from lots, past-due ones first; what the lots cannot cover becomes
    debt (欠分) that later earnings repay."""
    return _take_fifo(lots, points, today=date.min)


def _take_fifo(lots: list[PointsLot], points: int, today: date) -> tuple[list[LotTake], int]:
    takes: list[LotTake] = []
    wanted = points
    for lot in spendable(lots, today):
        if wanted == 0:
            break
        taken = min(wanted, lot.remaining)
        takes.append(LotTake(lot.expires_on, taken, lot.remaining))
        wanted -= taken
    return takes, wanted


def due_for_expiry(lots: list[PointsLot], today: date) -> list[PointsLot]:
    """Lots whose last valid day is before today (a lot is spendable through its expiry date)."""
    return [lot for lot in lots if lot.expires_on < today and lot.remaining > 0]


def next_expiry(lots: list[PointsLot], today: date) -> PointsLot | None:
    upcoming = spendable(lots, today)
    return upcoming[0] if upcoming else None


def split_earning(points: int, debt: int) -> tuple[int, int]:
    """Earned points first repay debt left by a reversal; returns (repaid, into_lot)."""
    repaid = min(points, debt)
    return repaid, points - repaid


def merge_lots(kept: list[PointsLot], moved: list[PointsLot], debt: int) -> tuple[list[LotTake], dict[date, int], int]:
    """Lots of a merged member join the survivor's (one lot per expiry date), and the combined
    debt is repaid from the combined lots, past-due and earliest expiry first (as a clawback).

    Returns the survivor's lot changes against its current lots (`kept`): guarded takes for
    lots that shrink, additions for lots that grow; and the debt repaid."""
    combined: dict[date, int] = {}
    for lot in [*kept, *moved]:
        combined[lot.expires_on] = combined.get(lot.expires_on, 0) + lot.remaining
    repay, _ = plan_clawback([PointsLot(day, points) for day, points in combined.items()], debt)
    for take in repay:
        combined[take.expires_on] -= take.taken
    before = {lot.expires_on: lot.remaining for lot in kept}
    takes: list[LotTake] = []
    adds: dict[date, int] = {}
    for day in sorted(set(combined) | set(before)):
        was, now = before.get(day, 0), combined.get(day, 0)
        if now > was:
            adds[day] = now - was
        elif now < was:
            takes.append(LotTake(day, was - now, was))
    return takes, adds, sum(take.taken for take in repay)


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split a whole number of points (or fen) over weights, largest remainder first, ties to
    the earlier weight: the shares are integers and always add up to `total`. Zero weights
    share equally (a bonus on lines that cost nothing)."""
    if not weights:
        return []
    if sum(weights) == 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [total * weight // whole for weight in weights]
    order = sorted(range(len(weights)), key=lambda n: (-(total * weights[n] % whole), n))
    for n in order[: total - sum(shares)]:
        shares[n] += 1
    return shares


@dataclass(frozen=True)
class LineTally:
    """One order line as its order entry records it: what it cost, earned, and had refunded."""

    line_id: str
    amount_fen: int
    earned: int
    refunded_fen: int = 0

    @property
    def refundable_fen(self) -> int:
        return self.amount_fen - self.refunded_fen


def clawback_for_lines(lines: list[LineTally], refund: dict[str, int]) -> tuple[int, list[LineTally]]:
    """Points to take back for a refund of some lines (`line_id` → fen), and the lines after it.

    Each line follows `clawback_for_refund` on its own cumulative refunds: after a line is
    refunded in whole, in any number of steps, exactly what it earned has been taken back."""
    known = {line.line_id for line in lines}
    unknown = sorted(set(refund) - known)
    if unknown:
        raise InvalidInput(f"the order has no line {unknown[0]!r}", field="lines")
    clawed, after = 0, []
    for line in lines:
        fen = refund.get(line.line_id, 0)
        if fen < 0 or fen > line.refundable_fen:
            raise RefundExceedsOrder(f"line {line.line_id!r}: refundable {line.refundable_fen} fen", field="lines")
        clawed += clawback_for_refund(line.earned, line.amount_fen, line.refunded_fen, fen)
        after.append(LineTally(line.line_id, line.amount_fen, line.earned, line.refunded_fen + fen))
    return clawed, after


def split_refund(lines: list[LineTally], refund_fen: int) -> dict[str, int]:
    """A refund that names no lines, spread over what is left of each line, in proportion
    (largest remainder): today's proportional rule, line by line."""
    shares = allocate(refund_fen, [line.refundable_fen for line in lines])
    return {line.line_id: share for line, share in zip(lines, shares, strict=True) if share}
