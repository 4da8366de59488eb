"""Manual points adjustments (积分调整) and their approval limits (积分审核).

One operator may not split a large grant into small ones: what one operator adjusts on one
member within a rolling 24 hours (the sum of |points|) and what one operator adjusts in one
local day across all members are each held to a limit; above either, the adjustment waits for
a second operator. Adjustments a second operator approved do not count: they were checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import DomainError

WINDOW_SECONDS = 24 * 3600


class NeedsApproval(DomainError):
    code = "approval_required"


@dataclass(frozen=True)
class Grant:
    """One applied adjustment on a member, remembered on the member for the rolling window."""

    operator: str
    at: float  # unix seconds
    points: int  # |delta|


@dataclass(frozen=True)
class Limits:
    per_member: int  # one operator, one member, rolling 24 h
    per_operator_day: int  # one operator, one local day, all members


def add_to_window(grants: tuple[Grant, ...], grant: Grant) -> tuple[tuple[Grant, ...], int]:
    """The member's grants within the window after this one, and the operator's sum in it."""
    live = tuple(g for g in grants if g.at > grant.at - WINDOW_SECONDS) + (grant,)
    return live, sum(g.points for g in live if g.operator == grant.operator)


def check_limits(member_window_total: int, operator_day_total: int, limits: Limits) -> None:
    """Raises NeedsApproval when either total (this adjustment included) is over its limit."""
    if member_window_total > limits.per_member:
        raise NeedsApproval(f"{member_window_total} points on this member within 24 h", field="points")
    if operator_day_total > limits.per_operator_day:
        raise NeedsApproval(f"{operator_day_total} points by this operator today", field="points")
