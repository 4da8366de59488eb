"""`python -m chalicelib.cli import members FILE [--dry-run]`: the member import (会员导入) for
files of any size, with a progress bar and a final report (chalicelib/cli.py wires it in).

The report is a JSON line of totals, then the first `--show` bad lines; every bad line goes to
`FILE.errors.csv` beside the file (line, field, reason), or to stdout with `--errors`. Exit 0
when every line was good, 1 when some were not (a real import then wrote nothing, unless
`--skip-invalid`) or AWS could not be reached, 2 for a wrong command line. A real import is
audited as one entry (operator `cli:<user>`), like the admin route.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

SHOWN = 20
PROG = "python -m chalicelib.cli"


def add_parser(commands: Any) -> None:
    """The `import` command: `commands` is cli.py's subparsers."""
    command = commands.add_parser("import", help="import members from a legacy system's CSV (see --help)")
    command.add_argument("what", choices=("members",))
    command.add_argument("file", help="UTF-8 CSV: external_id,phone,name,birthday,tier,growth,points")
    command.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    command.add_argument("--skip-invalid", action="store_true", help="write the good lines of a file with bad ones")
    command.add_argument("--workers", type=int, default=8, help="parallel threads (default 8)")
    command.add_argument("--errors", action="store_true", help="print every bad line instead of FILE.errors.csv")
    command.add_argument("--show", type=int, default=SHOWN, help=f"bad lines shown in the report (default {SHOWN})")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib.clock import utc_now
    from chalicelib.domain import imports as rules
    from chalicelib.domain.errors import InvalidInput
    from chalicelib.services import imports

    path = Path(args.file)
    wrong = f"no file {args.file}" if not path.is_file() else None
    wrong = wrong or (None if 1 <= args.workers <= 64 else "--workers takes 1 to 64")
    if wrong:
        # Said here, not by raising cli.UsageError: under `python -m` that module is __main__,
        # and a class imported from chalicelib.cli would be another one.
        print(f"{PROG} import: {wrong} (see {PROG} import --help)", file=sys.stderr)
        return 2
    try:
        text = rules.decode(path.read_bytes())
    except InvalidInput as error:
        print(f"{path}: {error.detail}; save it as UTF-8", file=sys.stderr)
        return 1
    now = utc_now()
    with _bars() as progress, _audited(args, now):
        options = imports.Options(
            dry_run=args.dry_run,
            skip_invalid=args.skip_invalid,
            operator=_operator(),
            workers=args.workers,
            progress=progress,
        )
        report = imports.import_members(text, now, options)
    _print(report, path, args)
    return 1 if report.errors else 0


@contextmanager
def _bars() -> Iterator[Any]:
    """A tqdm bar per stage (check, then write) on stderr; none when stderr is not a terminal,
    nor without tqdm (a dev requirement: the Lambda package has no CLI)."""
    try:
        from tqdm import tqdm
    except ImportError:
        yield None
        return
    bars: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=stage, unit="line", file=sys.stderr, disable=None)
        bars[stage].update(done)

    try:
        yield progress
    finally:
        for bar in bars.values():
            bar.close()


@contextmanager
def _audited(args: argparse.Namespace, now: datetime) -> Iterator[None]:
    """The audit entry of a real import: written with its first member, as for the route."""
    from chalicelib.clock import iso
    from chalicelib.domain.audit import AuditEntry
    from chalicelib.store import audit_repo

    if args.dry_run:
        yield
        return
    request = f"cli-{uuid.uuid4().hex}"
    entry = AuditEntry(request, iso(now), _operator(), "cli", "cli import members", "import", request)
    with audit_repo.bind(entry):
        yield


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in this environment
        return "cli"


def _print(report: Any, path: Path, args: argparse.Namespace) -> None:
    print(json.dumps({"file": str(path), **report.summary(), "errors": len(report.errors)}, sort_keys=True))
    if not report.dry_run and not report.written:
        print(f"refused: {report.failed} bad line(s), nothing written (fix them, or --skip-invalid to skip them)")
    shown = report.errors if args.errors else report.errors[: max(args.show, 0)]
    for error in shown:
        print(f"line {error.line} {error.field}: {error.reason}")
    if args.errors or not report.errors:
        return
    target = path.with_name(path.name + ".errors.csv")
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "field", "reason"])
        writer.writerows([error.line, error.field, error.reason] for error in report.errors)
    print(f"{len(report.errors)} bad line(s) in all: {target}")
