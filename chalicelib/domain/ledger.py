"""The points ledger (积分流水) and the shape of one atomic points change."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from chalicelib.domain.points import LotTake

EARN = "earn"
REDEEM = "redeem"
REVERSE = "reverse"
ADJUST = "adjust"
EXPIRE = "expire"


@dataclass(frozen=True)
class LedgerEntry:
    entry_id: str
    member_id: str
    seq: int
    kind: str
    delta: int
    balance_after: int
    created_at: str
    fingerprint: str
    debt_after: int = 0
    reason: str | None = None
    source: str | None = None
    operator: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    refunded_fen: int | None = None


@dataclass(frozen=True)
class RefundMark:
    """Moves an order entry's refund tally from `before` to `after` (guarded by `before`)."""

    order_entry_id: str
    refunded_fen_before: int
    refunded_fen_after: int


@dataclass(frozen=True)
class ApprovalMark:
    approval_id: str
    decided_by: str
    decided_at: str


@dataclass
class PointsChange:
    """Everything one points operation writes, committed in a single transaction.

    `expected_version` is the member version the plan was made from: if anything changed
    the member since, the commit fails and the operation is planned again."""

    member_id: str
    expected_version: int
    entry: LedgerEntry
    new_balance: int
    new_debt: int
    growth_delta: int = 0
    lot_adds: dict[date, int] = field(default_factory=dict)
    lot_takes: list[LotTake] = field(default_factory=list)
    refund: RefundMark | None = None
    approval: ApprovalMark | None = None


def fingerprint(request: dict[str, Any]) -> str:
    """A stable digest of what was asked, to tell a replay from a reused key."""
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
