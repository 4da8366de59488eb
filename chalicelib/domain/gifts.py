"""Points gift (积分转赠) rules: what a gift may be, which of the giver's lots move, and how
the recipient receives them.

A gift moves the giver's lots with their own expiry dates (earliest first, as a redemption
takes them), so points never live longer by changing hands. The recipient receives them as
an earning: a debt left by a refund (欠分) is repaid first, from the earliest-expiring points
moved, and the rest joins the recipient's lots of the same dates. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from chalicelib.domain.errors import AlreadySet, Forbidden, InsufficientPoints, InvalidInput
from chalicelib.domain.ledger import TX_MAX_ITEMS
from chalicelib.domain.points import LotTake, PointsLot, plan_consumption

if TYPE_CHECKING:
    from chalicelib.domain.programme import GiftRules  # pydantic stays off the cold-start path

REASON = "gift"
# A gift's transaction: both members, both entries, the day's counter, two events; then a
# take and an add per expiry date moved.
_FIXED_ITEMS = 7
MAX_DATES = (TX_MAX_ITEMS - _FIXED_ITEMS) // 2


class GiftsDisabled(Forbidden):
    """The programme offers no points gift."""

    code = "gift_disabled"


class GiftDailyLimitReached(AlreadySet):
    """The giver's gifts of the day (Asia/Shanghai) would pass the programme's daily limit."""

    code = "gift_daily_limit_reached"


@dataclass(frozen=True)
class MovedLot:
    expires_on: date
    points: int


@dataclass(frozen=True)
class GiftPlan:
    """The giver's takes, the points moved by date (earliest first), and what the recipient
    gets of them: debt repaid, then lot additions by date."""

    takes: tuple[LotTake, ...]
    moved: tuple[MovedLot, ...]
    repaid: int
    adds: dict[date, int]


def gift_id(entry_id: str) -> str:
    """`gft_` + 24 hex of the giver's entry id: stable for a retried request, and it names
    neither member to the other side (the entry id holds the giver's member id)."""
    return "gft_" + hashlib.sha256(entry_id.encode()).hexdigest()[:24]


def mask_nickname(nickname: str | None) -> str | None:
    """张** : enough to recognise a friend, not a name to collect (its length is hidden too)."""
    if not nickname:
        return None
    return "*" if len(nickname) == 1 else nickname[0] + "**"


def check_request(rules: GiftRules, points: int) -> None:
    """What the programme says of any gift, before anyone is read."""
    if not rules.enabled:
        raise GiftsDisabled("the programme offers no points gift")
    if points < rules.min_points:
        raise InvalidInput(f"a gift is at least {rules.min_points} points", field="points")
    if rules.per_gift_max_points is not None and points > rules.per_gift_max_points:
        raise InvalidInput(f"a gift is at most {rules.per_gift_max_points} points", field="points")


def check_daily_limit(given_today: int, points: int, limit: int) -> None:
    if given_today + points > limit:
        left = max(limit - given_today, 0)
        raise GiftDailyLimitReached(f"at most {limit} points a day; {left} left today", field="points")


def plan_gift(lots: list[PointsLot], balance: int, points: int, today: date, recipient_debt: int) -> GiftPlan:
    """Only the balance is giftable: pending points (冻结期) are not in it, and neither are the
    points a giver's debt holds back (balance = lots − debt)."""
    if points <= 0:
        raise InvalidInput("points must be positive", field="points")
    if points > balance:
        raise InsufficientPoints(f"need {points}, have {balance}", field="points")
    takes = plan_consumption(lots, points, today)
    if len(takes) > MAX_DATES:
        raise InvalidInput(
            f"a gift moves points of at most {MAX_DATES} expiry dates: give fewer points", field="points"
        )
    moved = tuple(MovedLot(take.expires_on, take.taken) for take in takes)
    repaid, adds = receive(moved, recipient_debt)
    return GiftPlan(tuple(takes), moved, repaid, adds)


def receive(moved: tuple[MovedLot, ...], debt: int) -> tuple[int, dict[date, int]]:
    """Debt is repaid from the earliest-expiring points moved; the rest keeps its dates."""
    owed = debt
    adds: dict[date, int] = {}
    for lot in sorted(moved, key=lambda m: m.expires_on):
        repaid = min(owed, lot.points)
        owed -= repaid
        if lot.points > repaid:
            adds[lot.expires_on] = adds.get(lot.expires_on, 0) + lot.points - repaid
    return debt - owed, adds


def lots_detail(moved: tuple[MovedLot, ...]) -> list[dict[str, object]]:
    """The moved lots as a ledger entry's detail records them."""
    return [{"expires_on": lot.expires_on.isoformat(), "points": lot.points} for lot in moved]


def lots_from_detail(detail: object) -> tuple[MovedLot, ...]:
    if not isinstance(detail, list):
        return ()
    return tuple(MovedLot(date.fromisoformat(str(item["expires_on"])), int(item["points"])) for item in detail)
