"""Member import from a legacy system (会员导入): the CSV format and its line-by-line checks.

The file is UTF-8 (a BOM is allowed), comma-separated, with a header row naming exactly these
columns, in any order:

    external_id  the legacy system's member id: required, unique in the file, 1-64 of
                 A-Z a-z 0-9 _ - . :
    phone        required, unique in the file: 5-15 digits, optionally after + or +86
    name         optional, at most 32 characters (becomes the member's nickname)
    birthday     optional, YYYY-MM-DD, a real past date from 1900 on
    tier         optional, a tier code of chalicelib/config/tiers.json (normal, silver, ...)
    growth       optional, a whole number >= 0 (成长值); empty is 0
    points       optional, the opening points as lots with their own expiry dates:
                 `<points>@<YYYY-MM-DD>` joined by `;`, e.g. `500@2027-06-30;200@2027-12-31`;
                 each a whole number > 0, at most 12 distinct dates (two lots on one date add up),
                 dated at most 10 years ahead; a lot already past its date refuses the line
                 (checked when the line would be written: a line imported before stays unchanged)

Line numbers are the file's own (the header is line 1; a quoted cell may span lines). A value
that appears on two lines (external_id, phone) refuses every line it is on: which one is right
is the operator's call, not ours. Pure: no I/O.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.members import normalise_phone

COLUMNS = ("external_id", "phone", "name", "birthday", "tier", "growth", "points")
EXTERNAL_ID = re.compile(r"[A-Za-z0-9_\-.:]{1,64}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_LOT = re.compile(r"([0-9]{1,10})@([0-9]{4}-[0-9]{2}-[0-9]{2})")
_WHOLE = re.compile(r"[0-9]{1,10}")
MAX_NAME = 32
MAX_LOTS = 12  # a new member's transaction: member, 3 identities, entry, audit, lots (moto takes 25)
MAX_POINTS = 100_000_000  # per member, as the API's own limit
MAX_GROWTH = 1_000_000_000
MAX_YEARS_AHEAD = 10
MAX_CELL = 1024  # longer cells are refused before any check reads them


@dataclass(frozen=True)
class LineError:
    line: int
    field: str  # a column, `row` (cell count), `header` or `file`
    reason: str


@dataclass(frozen=True)
class ImportRow:
    line: int
    external_id: str
    phone: str  # normalised digits
    name: str | None
    birthday: date | None
    tier: str | None
    growth: int
    lots: tuple[tuple[date, int], ...]  # by date, one per date

    @property
    def points(self) -> int:
        return sum(points for _, points in self.lots)

    def opening(self) -> dict[str, Any]:
        """What the opening balance is made of: the import's request, whose fingerprint tells a
        re-import of the same line from a line that changed since."""
        lots = [[expires_on.isoformat(), points] for expires_on, points in self.lots]
        return {"external_id": self.external_id, "lots": lots, "growth": self.growth, "tier": self.tier or ""}


@dataclass(frozen=True)
class ParsedFile:
    rows: list[ImportRow]  # the lines without errors
    errors: list[LineError]
    total: int  # data lines read (blank lines not counted)


def decode(data: bytes) -> str:
    """UTF-8 with or without a BOM; anything else names the first line it cannot read."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InvalidInput(f"line {line} is not UTF-8", field="file") from error


def parse(text: str, today: date, tier_codes: Sequence[str]) -> ParsedFile:
    """Every line checked; a line that is not CSV (a quote left open, a cell over the csv
    module's limit) ends the reading there, as nothing after it can be told apart."""
    records = _records(text.removeprefix("\ufeff"))
    errors: list[LineError] = []
    rows: list[ImportRow] = []
    total = 0
    try:
        header = next(records, None)
        if header is None:
            return ParsedFile([], [LineError(1, "header", f"empty file: the header names {', '.join(COLUMNS)}")], 0)
        order, header_errors = _columns(*header)
        errors += header_errors
        for line, cells in records:
            total += 1
            row = None if header_errors else _row(line, cells, order, today, tier_codes, errors)
            if row is not None:
                rows.append(row)
    except _NotCsv as broken:
        errors.append(LineError(broken.line, "file", broken.reason))
    rows, duplicates = _without_duplicates(rows)
    return ParsedFile(rows, sorted([*errors, *duplicates], key=lambda e: (e.line, e.field)), total)


class _NotCsv(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line, self.reason = line, reason


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, cells) of each non-blank record."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise _NotCsv(reader.line_num, f"not CSV: {error}") from error
        if any(cell.strip() for cell in cells):
            yield start, cells
        start = reader.line_num + 1


def _columns(line: int, header: list[str]) -> tuple[dict[str, int], list[LineError]]:
    names = [cell.strip().lower() for cell in header]
    counts = Counter(names)
    errors = [LineError(line, "header", f"unknown column {name!r}") for name in counts if name not in COLUMNS]
    errors += [LineError(line, "header", f"column {name!r} twice") for name, n in counts.items() if n > 1]
    errors += [LineError(line, "header", f"missing column {name!r}") for name in COLUMNS if name not in counts]
    return {name: names.index(name) for name in COLUMNS if name in counts}, errors


def _row(
    line: int,
    cells: list[str],
    order: dict[str, int],
    today: date,
    tier_codes: Sequence[str],
    errors: list[LineError],
) -> ImportRow | None:
    if len(cells) != len(order):
        errors.append(LineError(line, "row", f"{len(cells)} cells, the header has {len(order)}"))
        return None
    values = {name: cells[index].strip() for name, index in order.items()}
    found: dict[str, Any] = {}
    for name, check in _CHECKS.items():
        value = values[name]
        try:
            if len(value) > MAX_CELL:
                raise InvalidInput(f"longer than {MAX_CELL} characters")
            found[name] = check(value, today, tier_codes)
        except InvalidInput as error:
            errors.append(LineError(line, name, error.detail))
    if len(found) != len(_CHECKS):
        return None
    lots = found.pop("points")
    return ImportRow(line=line, lots=lots, **found)


def _external_id(value: str, _today: date, _tiers: Sequence[str]) -> str:
    if not EXTERNAL_ID.fullmatch(value):
        raise InvalidInput("required: 1-64 of A-Z a-z 0-9 _ - . :")
    return value


def _phone(value: str, _today: date, _tiers: Sequence[str]) -> str:
    if not value:
        raise InvalidInput("required: the member's mobile number")
    try:
        return normalise_phone(value)
    except InvalidInput:
        raise InvalidInput("5-15 digits, optionally after + or +86") from None


def _name(value: str, _today: date, _tiers: Sequence[str]) -> str | None:
    if len(value) > MAX_NAME:
        raise InvalidInput(f"at most {MAX_NAME} characters")
    if any(unicodedata.category(char).startswith("C") for char in value):
        raise InvalidInput("control or invisible characters")
    return value or None


def _birthday(value: str, today: date, _tiers: Sequence[str]) -> date | None:
    if not value:
        return None
    born = _date(value, shown="the date")  # a birthday is personal data: not echoed
    if born > today or born.year < 1900:
        raise InvalidInput("must be a past date from 1900 on")
    return born


def _tier(value: str, _today: date, tier_codes: Sequence[str]) -> str | None:
    if value and value not in tier_codes:
        raise InvalidInput(f"unknown tier {value!r}: one of {', '.join(tier_codes)}")
    return value or None


def _growth(value: str, _today: date, _tiers: Sequence[str]) -> int:
    if not value:
        return 0
    if not _WHOLE.fullmatch(value) or int(value) > MAX_GROWTH:
        raise InvalidInput(f"a whole number from 0 to {MAX_GROWTH}")
    return int(value)


def _lots(value: str, today: date, _tiers: Sequence[str]) -> tuple[tuple[date, int], ...]:
    lots: dict[date, int] = defaultdict(int)
    for part in filter(None, (part.strip() for part in value.split(";"))):
        match = _LOT.fullmatch(part)
        if match is None:
            raise InvalidInput(f"{part!r}: a lot is <points>@<YYYY-MM-DD>, lots joined by ;")
        points, expires_on = int(match.group(1)), _date(match.group(2))
        if points <= 0:
            raise InvalidInput(f"{part!r}: points must be positive")
        if expires_on.year > today.year + MAX_YEARS_AHEAD:
            raise InvalidInput(f"{part!r}: expires more than {MAX_YEARS_AHEAD} years ahead")
        lots[expires_on] += points
    if len(lots) > MAX_LOTS:
        raise InvalidInput(f"at most {MAX_LOTS} expiry dates")
    if sum(lots.values()) > MAX_POINTS:
        raise InvalidInput(f"at most {MAX_POINTS} points in all")
    return tuple(sorted(lots.items()))


def _date(value: str, shown: str = "") -> date:
    shown = shown or repr(value)
    if not _DATE.fullmatch(value):
        raise InvalidInput(f"{shown} is not YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{shown} is not a date of the calendar") from None


_CHECKS = {
    "external_id": _external_id,
    "phone": _phone,
    "name": _name,
    "birthday": _birthday,
    "tier": _tier,
    "growth": _growth,
    "points": _lots,
}


def _without_duplicates(rows: list[ImportRow]) -> tuple[list[ImportRow], list[LineError]]:
    """Every line whose external_id or phone is on another line too is refused."""
    lines: dict[tuple[str, str], list[int]] = defaultdict(list)
    for row in rows:
        lines[("external_id", row.external_id)].append(row.line)
        lines[("phone", row.phone)].append(row.line)
    errors = [
        LineError(line, column, f"also on line(s) {', '.join(str(other) for other in found if other != line)}")
        for (column, _), found in lines.items()
        if len(found) > 1
        for line in found
    ]
    refused = {error.line for error in errors}
    return [row for row in rows if row.line not in refused], errors
