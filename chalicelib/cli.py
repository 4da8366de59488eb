"""Operator command line: `python -m chalicelib.cli reconcile | create-tables | infra`."""

from __future__ import annotations

import argparse
import json
import sys


def _reconcile(args: argparse.Namespace) -> int:
    from chalicelib.services.reconcile import reconcile

    checked_all = not args.member
    bad = 0
    for mismatch in reconcile(args.member or None):
        bad += 1
        print(
            f"MISMATCH {mismatch.member_id}: {mismatch.problem} "
            f"(balance={mismatch.balance} ledger={mismatch.ledger_sum} lots={mismatch.lots_sum} debt={mismatch.debt})"
        )
    scope = "all members" if checked_all else f"{len(args.member)} member(s)"
    print(f"reconcile: {bad} mismatch(es) in {scope}")
    return 1 if bad else 0


def _create_tables(_args: argparse.Namespace) -> int:
    from chalicelib.store.tables import create_tables

    created = create_tables()
    print(f"created {len(created)} table(s): {', '.join(created) or '-'}")
    return 0


def _infra(_args: argparse.Namespace) -> int:
    from chalicelib.settings import get_settings
    from chalicelib.store.tables import cloudformation_resources

    template = {"Resources": cloudformation_resources(get_settings().table_prefix)}
    print(json.dumps(template, indent=2, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("reconcile", help="check balance == Σ ledger == Σ lots − debt for members")
    rec.add_argument("--member", action="append", help="only this member (repeatable)")
    rec.set_defaults(run=_reconcile)
    commands.add_parser("create-tables", help="create missing tables (local stack)").set_defaults(run=_create_tables)
    commands.add_parser("infra", help="print the tables as CloudFormation (infra/tables.json)").set_defaults(run=_infra)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
