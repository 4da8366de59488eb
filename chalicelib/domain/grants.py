"""Bulk points grants (批量发放积分): one change of points, the same for every member of a list.

The list is a one-column CSV of member ids or phone numbers, or a campaign-style audience,
fixed when the grant is made: a second operator approves exactly these members and this
total. The grant then runs in chunks of `CHUNK_SIZE` members; each member's change is an
ordinary points operation keyed `grant:<grant id>:<member id>`, so a re-run grants nobody
twice, and the progress moves once per chunk (the chunk index is the checkpoint).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from chalicelib.domain import keys
from chalicelib.domain.adjustments import Grant, add_to_window
from chalicelib.domain.errors import ApprovalNotFound, DomainError, InvalidInput, MemberNotFound
from chalicelib.domain.members import Member, normalise_phone

KIND = "grant"  # the approval kind, and the ledger kind of each member's change
CHUNK_SIZE = 500
# One transaction stores the grant, its chunks, a limit counter and the audit entry (≤ 100 items).
MAX_MEMBERS = 40_000
MAX_CSV_LINES = 50_000
MAX_LINE_ERRORS = 50  # reported per refused request
FAILURES_KEPT = 100  # on the grant record; each chunk keeps all of its own
ID_VALUE = r"[A-Za-z0-9_\-:.]{1,64}"
PHONE_VALUE = r"\+?[0-9]{5,15}"  # a value of 5-15 digits is a phone number, never a member id
HEADERS = ("member_id", "phone")  # an optional first line
_ID, _PHONE = re.compile(ID_VALUE), re.compile(PHONE_VALUE)


class GrantStatus(StrEnum):
    """Stored as is and shown to operators."""

    PENDING_APPROVAL = "pending_approval"
    RUNNING = "running"
    DONE = "done"  # every member was granted or reported as failed
    FAILED = "failed"  # the job gave up on a chunk; the members after it were not processed
    REJECTED = "rejected"  # the second operator said no (驳回): shown, never stored on the grant


class FailureReason(StrEnum):
    MEMBER_NOT_FOUND = "member_not_found"  # gone since the list was made
    MEMBER_MERGED = "member_merged"  # merged into another member since (会员合并): not granted twice
    MEMBER_DELETED = "member_deleted"  # the account was closed since (会员注销)
    INSUFFICIENT_POINTS = "insufficient_points"  # a deduction larger than the balance
    APPROVAL_REQUIRED = "approval_required"  # the operator's 24 h limit on this member was reached since


class GrantNotFound(ApprovalNotFound):
    """No grant with this id (404 `not_found`)."""


class MemberMerged(DomainError):
    code = FailureReason.MEMBER_MERGED


@dataclass(frozen=True)
class LineError:
    line: int
    column: str  # member_id | phone
    reason: str

    @property
    def field(self) -> str:
        return f"members_csv[{self.line}].{self.column}"


class BadLines(InvalidInput):
    """Lines of the CSV that are neither a member id nor a phone number (400, one field each)."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__(f"{len(errors)} bad line(s)", field="members_csv")
        self.errors = errors


class UnknownMembers(MemberNotFound):
    """Listed members that do not exist (404 `member_not_found`, one field per line)."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__(f"{len(errors)} unknown member(s)", field="members_csv")
        self.errors = errors


@dataclass(frozen=True)
class ListedLine:
    """One value line of the CSV: a member id or a normalised phone number."""

    line: int
    member_id: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Target:
    """A member the grant is for, and the CSV line that named it first (None for an audience)."""

    member_id: str
    line: int | None = None


@dataclass(frozen=True)
class Failure:
    member_id: str
    reason: str
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"member_id": self.member_id, "reason": self.reason, "line": self.line}


@dataclass(frozen=True)
class ChunkOutcome:
    index: int
    done: int
    failures: tuple[Failure, ...] = ()


@dataclass(frozen=True)
class BulkGrant:
    grant_id: str
    points: int  # per member; negative for a deduction
    reason: str
    source: str  # csv | audience
    requested_by: str
    requested_at: str
    fingerprint: str
    status: GrantStatus
    total: int
    chunks: int
    audience: dict[str, Any] | None = None
    next_chunk: int = 0
    done: int = 0
    failed: int = 0
    failures: tuple[Failure, ...] = ()
    failed_by_reason: dict[str, int] = field(default_factory=dict)
    approval_id: str | None = None
    approved_by: str | None = None
    approved_at: str | None = None
    finished_at: str | None = None
    errors: int = 0
    last_error: str | None = None
    rejected_by: str | None = None  # from the approval, when it was rejected
    rejection_reason: str | None = None

    @property
    def total_points(self) -> int:
        """What the grant moves in all, counted as the approval limits count: Σ|points|."""
        return abs(self.points) * self.total


def grant_id(operator: str, idempotency_key: str) -> str:
    """`grt_` + 20 hex: one grant per operator and Idempotency-Key, stable for a retry."""
    return "grt_" + hashlib.sha256(keys.key("grant", operator, idempotency_key).encode()).hexdigest()[:20]


def entry_id(grant: str, member_id: str) -> str:
    """The member's ledger entry: its key is the idempotency key, so it exists at most once."""
    return keys.key("grant", grant, member_id)


def parse_members_csv(text: str) -> list[ListedLine]:
    """One value per line (an optional `member_id` or `phone` header first), values optionally
    in double quotes, blank lines ignored. Every bad line is reported, not just the first."""
    lines = text.removeprefix("\ufeff").split("\n")
    if len(lines) > MAX_CSV_LINES:
        raise InvalidInput(f"at most {MAX_CSV_LINES} lines", field="members_csv")
    listed: list[ListedLine] = []
    errors: list[LineError] = []
    first = True
    for number, raw in enumerate(lines, start=1):
        value = raw.removesuffix("\r").strip(" \t")
        if not value:
            continue
        quoted = len(value) >= 2 and value[0] == value[-1] == '"'
        bare = value[1:-1] if quoted else value
        if first and bare.lower() in HEADERS:
            first = False
            continue
        first = False
        read = _read_value(number, bare)
        (errors if isinstance(read, LineError) else listed).append(read)  # type: ignore[arg-type]
    if errors:
        raise BadLines(errors)
    return listed


def _read_value(number: int, value: str) -> ListedLine | LineError:
    if _PHONE.fullmatch(value):
        return ListedLine(number, phone=normalise_phone(value))
    if _ID.fullmatch(value):
        return ListedLine(number, member_id=value)
    if value.lstrip("+").isdigit():
        return LineError(number, "phone", "a phone number is 5-15 digits, optionally after +")
    return LineError(number, "member_id", "not a member id (1-64 of A-Z a-z 0-9 _ - : .) nor a phone number")


def chunk_count(total: int) -> int:
    return -(-total // CHUNK_SIZE)


def chunked(targets: list[Target]) -> list[list[Target]]:
    return [targets[start : start + CHUNK_SIZE] for start in range(0, len(targets), CHUNK_SIZE)]


def widest_window(members: Iterable[Member], operator: str, at: float, points: int) -> int:
    """The largest 24-hour total this operator would reach on any one of the members with this
    grant added (the per-member approval limit of `domain/adjustments.py`)."""
    return max((add_to_window(m.recent_adjustments, Grant(operator, at, abs(points)))[1] for m in members), default=0)


def after_chunk(grant: BulkGrant, outcome: ChunkOutcome, finished_at: str) -> BulkGrant:
    """The grant's progress once a chunk is counted; the last chunk finishes it."""
    by_reason = dict(grant.failed_by_reason)
    for failure in outcome.failures:
        by_reason[failure.reason] = by_reason.get(failure.reason, 0) + 1
    kept = (grant.failures + outcome.failures)[:FAILURES_KEPT]
    next_chunk = outcome.index + 1
    last = next_chunk >= grant.chunks
    return replace(
        grant,
        next_chunk=next_chunk,
        done=grant.done + outcome.done,
        failed=grant.failed + len(outcome.failures),
        failures=kept,
        failed_by_reason=by_reason,
        status=GrantStatus.DONE if last else grant.status,
        finished_at=finished_at if last else None,
        errors=0,
        last_error=None,
    )
