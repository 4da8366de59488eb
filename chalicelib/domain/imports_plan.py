"""What a member import (会员导入) does with each checked line: create a member, update one, or
leave it as it is; and the report of a whole file. Pure: no I/O.

A line finds its member by the legacy id (identity `legacy:<external_id>`), else by phone
(identity `phone:<keyed hash>`). The opening values (the points lots, growth and tier) are
carried once per legacy account, with one ledger entry `import:<external_id>` whose
fingerprint is those values:

- no entry yet, no member with the legacy id or the phone: a new member (create);
- no entry yet, a member holds the phone: the legacy account is attached to that member
  (update): its lots are added, growth added, the tier raised if the line's is higher. A phone
  is proof enough here as it is for a login (services/members.py): a member a verified phone
  binding would claim anyway. Refused when that member already holds another legacy account;
- an entry with the same fingerprint: already imported. Only gaps are filled (a name, a
  birthday, a phone the member has none of): what the member set since is theirs (unchanged
  otherwise). An entry with another fingerprint: a conflict line, the opening values never
  move twice; an adjustment changes points after the import;
- a phone bound to another member than the legacy id's: a conflict line, never a merge.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from chalicelib.domain import keys
from chalicelib.domain.imports import ImportRow, LineError
from chalicelib.domain.members import Member
from chalicelib.domain.tiers import Tier, highest, tier_for_growth


class Outcome(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"
    FAILED = "failed"


def entry_id(external_id: str) -> str:
    """The opening balance's ledger entry: the import's idempotency key for the legacy account."""
    return keys.key("import", external_id)


def legacy_alias(external_id: str) -> str:
    """The identity (身份) that finds the member by the legacy system's id."""
    return keys.key("legacy", external_id)


def imported_marker(member_id: str) -> str:
    """An identity item per member that received a legacy account, put only if absent: two
    imports can never both attach a legacy account to one member (the alias index is eventually
    consistent and could not guard that)."""
    return keys.key("imported", member_id)


def new_member_id(external_id: str) -> str:
    """Deterministic: a retried or concurrent creation of one legacy account is one member, and
    a closed account's tombstone (会员注销) is never created again."""
    return "m_" + hashlib.sha256(f"import\n{external_id}".encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Opening:
    """The `import:<external_id>` entry as stored."""

    fingerprint: str
    member_id: str


@dataclass(frozen=True)
class Found:
    """What the store holds for one line (live members: merges followed)."""

    by_external_id: Member | None = None
    by_phone: Member | None = None
    opening: Opening | None = None
    phone_member_imported: bool = False  # the phone's member holds a legacy account already


@dataclass(frozen=True)
class Fills:
    """Profile gaps of an existing member that the line fills."""

    nickname: str | None = None
    birthday: date | None = None
    phone: bool = False

    def __bool__(self) -> bool:
        return bool(self.nickname or self.birthday or self.phone)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    member: Member | None = None  # the existing member written to
    opening: bool = False  # the opening balance is carried now
    fills: Fills = Fills()
    error: LineError | None = None


def decide(row: ImportRow, found: Found, fingerprint: str, today: date) -> Decision:
    if found.opening is not None:
        return _imported_before(row, found, fingerprint)
    expired = [expires_on for expires_on, _ in row.lots if expires_on < today]
    if expired:
        return _failed(row, "points", f"the lot of {expired[0].isoformat()} is past its date")
    if found.by_external_id is not None:
        # The alias and the entry are written in one transaction: this is not an import's doing.
        held = found.by_external_id.member_id
        return _failed(row, "external_id", f"member {held} holds this legacy id without its opening entry")
    target = found.by_phone
    if target is None:
        return Decision(Outcome.CREATE, opening=True)
    if found.phone_member_imported:
        return _failed(row, "phone", f"the phone's member {target.member_id} was imported under another external_id")
    return Decision(Outcome.UPDATE, member=target, opening=True, fills=fills_for(target, row, phone_free=False))


def _imported_before(row: ImportRow, found: Found, fingerprint: str) -> Decision:
    assert found.opening is not None
    if found.opening.fingerprint != fingerprint:
        reason = "imported before with other points, growth or tier: change them by an adjustment"
        return _failed(row, "points", reason)
    target = found.by_external_id
    if target is None:  # the account was closed since (会员注销): never brought back
        return Decision(Outcome.UNCHANGED)
    if found.by_phone is not None and found.by_phone.member_id != target.member_id:
        return _failed(row, "phone", f"bound to another member ({found.by_phone.member_id})")
    fills = fills_for(target, row, phone_free=found.by_phone is None)
    return Decision(Outcome.UPDATE, member=target, fills=fills) if fills else Decision(Outcome.UNCHANGED)


def fills_for(member: Member, row: ImportRow, *, phone_free: bool) -> Fills:
    return Fills(
        nickname=row.name if row.name and not member.nickname else None,
        birthday=row.birthday if row.birthday and member.birthday is None else None,
        phone=phone_free and member.phone_hash is None,
    )


def _failed(row: ImportRow, column: str, reason: str) -> Decision:
    return Decision(Outcome.FAILED, error=LineError(row.line, column, reason))


def opening_tier(ladder: Sequence[Tier], current: str, row: ImportRow, growth: int) -> str:
    """The best of the member's tier, the line's and the one the growth earns: an import never
    lowers a tier (保级 is the annual review's call)."""
    return highest(ladder, current, row.tier or current, tier_for_growth(ladder, growth))


@dataclass
class ImportReport:
    """Totals of a file: for a dry run what would happen, else what did."""

    dry_run: bool
    rows: int
    file_sha256: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0  # lines refused
    points: int = 0  # opening points carried (or that would be)
    lots: int = 0
    written: bool = False  # False for a dry run and for a file refused for its bad lines
    errors: list[LineError] = field(default_factory=list)

    def add(self, row: ImportRow, decision: Decision) -> None:
        if decision.error is not None:
            self.errors.append(decision.error)
        counter = {Outcome.CREATE: "created", Outcome.UPDATE: "updated", Outcome.UNCHANGED: "unchanged"}
        if decision.outcome in counter:
            setattr(self, counter[decision.outcome], getattr(self, counter[decision.outcome]) + 1)
        if decision.opening and decision.outcome != Outcome.FAILED:
            self.points += row.points
            self.lots += len(row.lots)

    def close(self) -> ImportReport:
        """Errors by line; `failed` counts the lines refused."""
        self.errors.sort(key=lambda error: (error.line, error.field))
        self.failed = len({error.line for error in self.errors if error.field != "header"})
        return self

    def summary(self) -> dict[str, Any]:
        """For the audit trail and the CLI: the totals, no personal data."""
        names = ("dry_run", "rows", "created", "updated", "unchanged", "failed", "points", "lots", "written")
        return {"file_sha256": self.file_sha256, **{name: getattr(self, name) for name in names}}
