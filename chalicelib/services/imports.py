"""Member import from a legacy system (会员导入): check a CSV file (domain/imports.py), plan each
line against the store (domain/imports_plan.py), and write each member in one transaction.

A dry run plans and reports, writing nothing. A real import writes only a clean file: any bad
or conflicting line refuses the whole file, nothing written, unless `skip_invalid` (then the
good lines are written and the bad ones reported). A line's write is one transaction: the
member (created, or its version checked), its identities, its lots and the one ledger entry
`import:<external_id>`; a refused condition plans that line again, so a concurrent import or a
member changing meanwhile is met, never overwritten. Importing the same file again writes
nothing. Imported members get no welcome message: the import stages no events, except the
`tier.changed` of an existing member whose tier it raises.

Lines are looked up and written in chunks by a pool of threads (the store's requests are I/O).
The audit entry of an admin request (one per import, describing the file and its totals) rides
on the first write (store/audit_repo.py): that write runs in the calling thread, whose context
holds the request's audit scope; the pool's threads have none, so no other write is audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from chalicelib.clock import iso, local_date
from chalicelib.domain import imports as rules
from chalicelib.domain import imports_plan as plan
from chalicelib.domain import ledger as kinds
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.imports import ImportRow, LineError
from chalicelib.domain.imports_plan import Decision, ImportReport, Outcome
from chalicelib.domain.ledger import EntryNote, PointsChange
from chalicelib.domain.members import Member, mask_phone
from chalicelib.retry import backoff
from chalicelib.security import phone as phone_crypto
from chalicelib.services import points, tiers
from chalicelib.settings import get_settings
from chalicelib.store import audit_repo, imports_repo

DEFAULT_WORKERS = 8
CHUNK = 100  # lines looked up together: 2 aliases and an entry each, ~3 BatchGetItems
Progress = Callable[[str, int, int], None]  # (stage "check" | "write", lines just done, lines in the stage)
T = TypeVar("T")


@dataclass(frozen=True)
class Options:
    dry_run: bool = True
    skip_invalid: bool = False  # write the good lines of a file with bad ones
    operator: str = "cli"  # on each opening entry
    workers: int = DEFAULT_WORKERS
    max_rows: int | None = None  # a larger file is refused before anything is read
    max_line_points: int | None = None  # opening points one line may carry (the API: see below)
    progress: Progress | None = None


@dataclass(frozen=True)
class _Line:
    row: ImportRow
    phone_hash: str
    decision: Decision


def import_members(text: str, now: datetime, options: Options) -> ImportReport:
    today = local_date(now, get_settings().timezone)
    parsed = rules.parse(text, today, [tier.code for tier in tiers.ladder()])
    if options.max_rows is not None and parsed.total > options.max_rows:
        raise InvalidInput(f"{parsed.total} lines; at most {options.max_rows} here, more through the CLI", field="csv")
    digest = hashlib.sha256(text.encode()).hexdigest()
    report = ImportReport(dry_run=options.dry_run, rows=parsed.total, file_sha256=digest, errors=list(parsed.errors))
    checked = _pool(options, _check, _chunks(parsed.rows), ("check", len(parsed.rows)), now)
    lines = [_capped(line, options.max_line_points) for chunk in checked for line in chunk]
    for line in lines:
        report.add(line.row, line.decision)
    report.close()
    refused = any(error.field in ("header", "file") for error in report.errors)
    if options.dry_run or refused or (report.errors and not options.skip_invalid):
        return report
    done = ImportReport(dry_run=False, rows=parsed.total, file_sha256=digest, written=True, errors=list(parsed.errors))
    # What is about to be written; the file is named by its hash in the target (a summary masks
    # long digit runs, as it does phone numbers).
    planned = {name: value for name, value in report.summary().items() if name not in ("file_sha256", "written")}
    audit_repo.describe(
        target=f"import:{digest[:16]}", after={**planned, "skip_invalid": options.skip_invalid, "by": options.operator}
    )
    for line, decision in zip(lines, _write_all(lines, now, options), strict=True):
        done.add(line.row, decision)
    return done.close()


def _capped(line: _Line, cap: int | None) -> _Line:
    """Through the admin API an operator alone carries no more opening points onto a member than
    they may adjust alone (ADJUST_APPROVAL_THRESHOLD): an import must not be the way around the
    second approver. Larger balances are imported with the CLI, which needs AWS credentials."""
    if cap is None or not line.decision.opening or line.row.points <= cap:
        return line
    reason = f"{line.row.points} points: above the {cap} one operator may grant alone; import it with the CLI"
    return replace(line, decision=Decision(Outcome.FAILED, error=LineError(line.row.line, "points", reason)))


def _chunks(rows: Sequence[T]) -> list[Sequence[T]]:
    return [rows[start : start + CHUNK] for start in range(0, len(rows), CHUNK)]


def _pool(
    options: Options,
    work: Callable[[Sequence[Any], datetime], list[Any]],
    chunks: list[Any],
    stage: tuple[str, int],
    now: datetime,
) -> Iterator[list[Any]]:
    """Each chunk's result in order, the chunks run by `options.workers` threads."""
    with ThreadPoolExecutor(max_workers=max(1, options.workers), thread_name_prefix=f"import-{stage[0]}") as pool:
        for chunk, result in zip(chunks, pool.map(lambda chunk: work(chunk, now), chunks), strict=True):
            if options.progress is not None:
                options.progress(stage[0], len(chunk), stage[1])
            yield result


def _check(rows: Sequence[ImportRow], now: datetime) -> list[_Line]:
    hashes = [phone_crypto.phone_hash(row.phone) for row in rows]
    return [
        _Line(row, digest, decision)
        for row, digest, decision in zip(rows, hashes, _decide(rows, hashes, now), strict=True)
    ]


def _decide(rows: Sequence[ImportRow], hashes: Sequence[str], now: datetime) -> list[Decision]:
    today = local_date(now, get_settings().timezone)
    found = imports_repo.lookup(rows, hashes)
    return [
        plan.decide(row, seen, _operation(row, now).fingerprint, today) for row, seen in zip(rows, found, strict=True)
    ]


def _operation(row: ImportRow, now: datetime) -> points.Operation:
    return points.operation(plan.entry_id(row.external_id), row.opening(), now, key_field="external_id")


def _write_all(lines: list[_Line], now: datetime, options: Options) -> list[Decision]:
    """The final decision of every line, in order. The first writes run here until the
    request's audit entry is recorded (there is none outside a request: the pool takes all)."""
    decisions: list[Decision] = []
    scope = audit_repo.current()
    position = 0
    while position < len(lines) and scope is not None and not scope.recorded:
        decisions.append(_write(lines[position], now, options))
        position += 1
        if options.progress is not None:
            options.progress("write", 1, len(lines))

    def write_chunk(chunk: Sequence[_Line], at: datetime) -> list[Decision]:
        return [_write(line, at, options) for line in chunk]

    for result in _pool(options, write_chunk, _chunks(lines[position:]), ("write", len(lines)), now):
        decisions.extend(result)
    return decisions


def _write(line: _Line, now: datetime, options: Options) -> Decision:
    """The line's write; a refused condition looks again and plans the line anew."""
    decision = line.decision
    for attempt in range(get_settings().tx_max_attempts):
        if decision.outcome not in (Outcome.CREATE, Outcome.UPDATE):
            return decision
        try:
            _apply(line, decision, now, options.operator)
            return decision
        except imports_repo.Refused:
            backoff(attempt)
            again = replace(line, decision=_decide([line.row], [line.phone_hash], now)[0])
            decision = _capped(again, options.max_line_points).decision
    reason = "the member kept changing during the import: import the file again"
    return Decision(Outcome.FAILED, error=LineError(line.row.line, "row", reason))


def _apply(line: _Line, decision: Decision, now: datetime, operator: str) -> None:
    row = line.row
    if decision.outcome == Outcome.CREATE:
        _create(row, line.phone_hash, now, operator)
        return
    assert decision.member is not None
    profile = _profile(row, line.phone_hash, decision)
    if decision.opening:
        aliases = [plan.legacy_alias(row.external_id), plan.imported_marker(decision.member.member_id)]
        change = _opening(row, decision.member, now, operator)
        imports_repo.attach(change, aliases, profile, iso(now))
    else:
        aliases = [f"phone:{line.phone_hash}"] if decision.fills.phone else []
        imports_repo.fill(decision.member.member_id, profile, aliases, iso(now))


def _create(row: ImportRow, digest: str, now: datetime, operator: str) -> None:
    settings = get_settings()
    member_id = plan.new_member_id(row.external_id)
    tier = plan.opening_tier(tiers.ladder(), settings.default_tier_code, row, row.growth)
    member = Member(
        member_id=member_id,
        created_at=iso(now),
        growth=row.growth,
        tier_code=tier,
        nickname=row.name,
        birthday=row.birthday,
        phone_hash=digest,
        phone_masked=mask_phone(row.phone),
    )
    change = points.change(
        _operation(row, now), member, kinds.IMPORT, row.points, lot_adds=dict(row.lots), note=_note(row, operator)
    )
    stored = replace(member, balance=row.points, ledger_seq=change.entry.seq, version=1)
    aliases = [plan.legacy_alias(row.external_id), f"phone:{digest}", plan.imported_marker(member_id)]
    imports_repo.create(stored, change, aliases, phone_crypto.encrypt_phone(row.phone))


def _opening(row: ImportRow, member: Member, now: datetime, operator: str) -> PointsChange:
    """The opening balance onto an existing member: lots added, growth added, tier raised."""
    growth = member.growth + row.growth
    tier = plan.opening_tier(tiers.ladder(), member.tier_code, row, growth)
    raised = tier if tier != member.tier_code else None
    op = _operation(row, now)
    change = points.change(
        op,
        member,
        kinds.IMPORT,
        row.points,
        lot_adds=dict(row.lots),
        growth_delta=row.growth,
        tier_code=raised,
        note=_note(row, operator),
    )
    if raised is not None:
        after = replace(member, growth=growth, tier_code=raised)
        change.events = tuple(tiers.tier_events(op.entry_id, after, raised, member.tier_code, iso(now)))
    return change


def _note(row: ImportRow, operator: str) -> EntryNote:
    detail = {**row.opening(), "line": row.line}
    return EntryNote(reason="import", source="legacy", operator=operator, detail=detail)


def _profile(row: ImportRow, digest: str, decision: Decision) -> imports_repo.Profile:
    fills = decision.fills
    if not fills.phone:
        return imports_repo.Profile(nickname=fills.nickname, birthday=fills.birthday)
    return imports_repo.Profile(
        nickname=fills.nickname,
        birthday=fills.birthday,
        phone_hash=digest,
        phone_enc=phone_crypto.encrypt_phone(row.phone),
        phone_masked=mask_phone(row.phone),
    )
