"""Requests waiting for a second operator (审核): points adjustments above the limits and
member merges (会员合并) asked for by an operator or by a phone binding."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ApprovalStatus(StrEnum):
    """Stored as is (the approvals table) and shown to operators."""

    PENDING = "pending"
    APPROVED = "approved"


@dataclass(frozen=True)
class Approval:
    approval_id: str
    member_id: str
    points: int
    reason: str
    requested_by: str
    requested_at: str
    status: ApprovalStatus
    fingerprint: str
    decided_by: str | None = None
    kind: str = "adjust"  # "adjust" | "merge"
    detail: dict[str, Any] = field(default_factory=dict)
