"""Operator command line: `python -m chalicelib.cli reconcile | create-tables | infra | job | dlq`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any


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


def _create_queues(_args: argparse.Namespace) -> int:
    from chalicelib.notify.queues import create_queues

    print(f"queues: {', '.join(create_queues())}")
    return 0


def _infra(args: argparse.Namespace) -> int:
    from chalicelib.settings import get_settings
    from chalicelib.store.tables import cloudformation_resources

    if args.part == "queues":
        template = queues_template()
    else:
        template = {"Resources": cloudformation_resources(get_settings().table_prefix)}
    print(json.dumps(template, indent=2, sort_keys=True))
    return 0


# `chalice package` names the SQS event source of the `events-worker` function like this.
WORKER_FUNCTION, WORKER_EVENT_SOURCE = "EventsWorker", "EventsWorkerSqsEventSource"


def queues_template() -> dict[str, Any]:
    """infra/queues.json: the queues, and what Chalice cannot declare on the worker's event
    source: partial batch responses, and the queue of this stack (Chalice writes the name it
    saw at package time). The merge is deep and key-wise, so the queue ARN overrides
    Chalice's `Fn::Sub` with another `Fn::Sub` (a `Fn::GetAtt` would sit beside it)."""
    from chalicelib.notify.queues import cloudformation_resources

    event_source = {
        "Properties": {"Queue": {"Fn::Sub": "${EventsQueue.Arn}"}, "FunctionResponseTypes": ["ReportBatchItemFailures"]}
    }
    worker = {"Properties": {"Events": {WORKER_EVENT_SOURCE: event_source}}}
    return {"Resources": {**cloudformation_resources(), WORKER_FUNCTION: worker}}


def parse_now(text: str | None) -> datetime:
    """An ISO moment with its offset (`2026-12-01T00:10:00+08:00`); none means now."""
    from chalicelib.clock import utc_now

    if not text:
        return utc_now()
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise SystemExit(f"--now needs a UTC offset, e.g. {text}+08:00")
    return moment


def _job(args: argparse.Namespace) -> int:
    from chalicelib.jobs.runner import run_job

    now = parse_now(args.now)
    counts = run_job(args.name, now)
    print(json.dumps({"job": args.name, "now": now.isoformat(), **counts}, sort_keys=True))
    return 0


def _dlq(args: argparse.Namespace) -> int:
    from chalicelib.notify import dlq

    if args.action == "list":
        letters = dlq.list_dead_letters(10 if args.limit is None else args.limit)
        for letter in letters:
            print(json.dumps(letter, ensure_ascii=False, sort_keys=True, default=str))
        print(f"dlq: {len(letters)} message(s) shown")
    else:
        moved = dlq.redrive(args.limit)
        print(f"dlq: {moved} message(s) moved back to the events queue")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("reconcile", help="check balance == Σ ledger == Σ lots − debt for members")
    rec.add_argument("--member", action="append", help="only this member (repeatable)")
    rec.set_defaults(run=_reconcile)
    commands.add_parser("create-tables", help="create missing tables (local stack)").set_defaults(run=_create_tables)
    commands.add_parser("create-queues", help="create the events queue and its DLQ (local stack)").set_defaults(
        run=_create_queues
    )
    infra = commands.add_parser("infra", help="print CloudFormation: tables (infra/tables.json) or queues")
    infra.add_argument("part", nargs="?", choices=("tables", "queues"), default="tables")
    infra.set_defaults(run=_infra)
    job = commands.add_parser("job", help="run a scheduled job now (or for the calendar of --now)")
    job.add_argument("name", help="expire-points, expiry-reminders, birthday-gifts, dormant-reactivation, campaigns")
    job.add_argument("--now", help="ISO time with offset, e.g. 2026-12-01T00:10:00+08:00")
    job.set_defaults(run=_job)
    dlq = commands.add_parser("dlq", help="list or redrive the events dead-letter queue")
    dlq.add_argument("action", choices=("list", "redrive"))
    dlq.add_argument("--limit", type=int, default=None, help="at most this many messages (list: 10)")
    dlq.set_defaults(run=_dlq)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
