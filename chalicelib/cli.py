"""Operator command line: `python -m chalicelib.cli reconcile | create-tables | create-queues | infra | job | dlq |
import | operators`.

A failure is one line on stderr that says what to do: exit status 2 for a wrong command line,
1 when the command could not do its work (AWS unreachable, no credentials, a missing table or
queue). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timedelta
from typing import Any, NoReturn

PROG = "python -m chalicelib.cli"
# A job run for a later day than this treats the days in between as gone by, for good.
FUTURE_NOW_TOLERANCE = timedelta(days=1)
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class UsageError(SystemExit):
    """A wrong command line: exit status 2, like argparse's own errors (and, like them, a
    SystemExit, so `main` called in-process raises it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage first; one line naming the fix reads better.
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _reconcile(args: argparse.Namespace) -> int:
    from chalicelib.services.reconcile import reconcile
    from chalicelib.services.wallet import reconcile_wallets

    checked_all = not args.member
    bad = 0
    for mismatch in reconcile(args.member or None):
        bad += 1
        print(
            f"MISMATCH {mismatch.member_id}: {mismatch.problem} "
            f"(balance={mismatch.balance} ledger={mismatch.ledger_sum} lots={mismatch.lots_sum} debt={mismatch.debt})"
        )
    for wallet in reconcile_wallets(args.member or None):
        bad += 1
        print(f"MISMATCH wallet {wallet.member_id}: {wallet.problem}")
    scope = "all members" if checked_all else f"{len(args.member)} member(s)"
    print(f"reconcile: {bad} mismatch(es) in {scope} (points and wallets)")
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
    elif args.part == "ops":
        template = ops_template()
    elif args.part == "gateway":
        from chalicelib.api.gateway_responses import gateway_responses_template

        template = gateway_responses_template()
    else:
        template = {"Resources": cloudformation_resources(get_settings().table_prefix)}
    print(json.dumps(template, indent=2, sort_keys=True))
    return 0


# `chalice package` names the event sources of `events-worker` and `outbox-relay` like this.
WORKER_FUNCTION, WORKER_EVENT_SOURCE = "EventsWorker", "EventsWorkerSqsEventSource"
RELAY_FUNCTION, RELAY_EVENT_SOURCE = "OutboxRelay", "OutboxRelayDynamodbEventSource"
WORKER_MAX_CONCURRENCY = {
    "Type": "Number",
    "Default": 5,
    "MinValue": 2,
    "MaxValue": 1000,
    "Description": "Most events-worker instances the SQS event source runs at once (ScalingConfig)",
}


def queues_template() -> dict[str, Any]:
    """infra/queues.json: the queues, and what Chalice cannot declare on the event sources:
    partial batch responses, the worker's concurrency cap (the event source's, not reserved
    concurrency: a throttled receive counts toward maxReceiveCount), and this stack's queue and
    outbox stream (Chalice writes what it saw at package time). The merge is deep and key-wise,
    so the queue ARN overrides Chalice's `Fn::Sub` with another `Fn::Sub` (a `Fn::GetAtt` would
    sit beside it); the stream, a plain string in Chalice's template, is replaced whole."""
    from chalicelib.notify.queues import cloudformation_resources

    worker_source = {
        "Queue": {"Fn::Sub": "${EventsQueue.Arn}"},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "ScalingConfig": {"MaximumConcurrency": {"Ref": "WorkerMaxConcurrency"}},
    }
    relay_source = {
        "Stream": {"Fn::GetAtt": ["OutboxTable", "StreamArn"]},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "BisectBatchOnFunctionError": True,
    }
    worker = {"Properties": {"Events": {WORKER_EVENT_SOURCE: {"Properties": worker_source}}}}
    relay = {"Properties": {"Events": {RELAY_EVENT_SOURCE: {"Properties": relay_source}}}}
    return {
        "Parameters": {"WorkerMaxConcurrency": WORKER_MAX_CONCURRENCY},
        "Resources": {**cloudformation_resources(), WORKER_FUNCTION: worker, RELAY_FUNCTION: relay},
    }


def ops_template() -> dict[str, Any]:
    """infra/ops.json (infra/ops.py): parameters, IAM, log groups, alarms, tags."""
    import importlib

    from chalicelib.notify.queues import cloudformation_resources as queue_resources
    from chalicelib.store.tables import cloudformation_resources as table_resources
    from infra.ops import template

    app = importlib.import_module("app").app  # the functions to cover: every entry point of app.py
    return template(app, sorted(table_resources("")), sorted(queue_resources()))


def parse_now(text: str | None) -> datetime:
    """An ISO moment with its offset (`2026-12-01T00:10:00+08:00`); none means now."""
    from chalicelib.clock import utc_now

    if not text:
        return utc_now()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--now {text!r} is not an ISO time, e.g. 2026-12-01T00:10:00+08:00") from None
    if moment.tzinfo is None:
        raise UsageError(f"--now needs a UTC offset, e.g. {text}+08:00")
    return moment


def future_now_warning(now: datetime, clock: datetime) -> str | None:
    """The warning for a job run on a calendar more than a day ahead of the clock."""
    ahead = now - clock
    if ahead <= FUTURE_NOW_TOLERANCE:
        return None
    days, today = round(ahead / timedelta(days=1)), clock.date().isoformat()
    return (
        f"warning: --now is {days} day(s) after the clock ({today} UTC): the job takes "
        "every day up to then as gone by, for good (points due by then expire, messages go out) and moves its "
        "watermark there, so runs on the real days skip them (local stack: restart `make run` for fresh data)"
    )


def _job(args: argparse.Namespace) -> int:
    from chalicelib.clock import utc_now
    from chalicelib.jobs.runner import run_job

    now = parse_now(args.now)
    warning = future_now_warning(now, utc_now())
    if warning:
        print(warning, file=sys.stderr, flush=True)
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


def _parser() -> argparse.ArgumentParser:
    from chalicelib import cli_import, cli_operators
    from chalicelib.jobs.runner import JOBS

    parser = _Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    rec = commands.add_parser(
        "reconcile", help="check balance == Σ ledger == Σ lots − debt, pending, and each wallet purse == Σ its ledger"
    )
    rec.add_argument("--member", action="append", help="only this member (repeatable)")
    rec.set_defaults(run=_reconcile)
    commands.add_parser("create-tables", help="create missing tables (local stack)").set_defaults(run=_create_tables)
    commands.add_parser("create-queues", help="create the events queue and its DLQ (local stack)").set_defaults(
        run=_create_queues
    )
    infra = commands.add_parser(
        "infra", help="print CloudFormation: tables (infra/tables.json), queues, ops or gateway (API Gateway's answers)"
    )
    infra.add_argument("part", nargs="?", choices=("tables", "queues", "ops", "gateway"), default="tables")
    infra.set_defaults(run=_infra)
    names = ", ".join(JOBS)
    job = commands.add_parser(
        "job",
        help=f"run a scheduled job now (or for the calendar of --now): {names}",
        description="Run a scheduled job now, or for the calendar of --now.",
        epilog="A --now more than a day ahead of the clock is warned about: the job takes every day up to then "
        "as gone by (points due by then expire for good) and moves its watermark there.",
    )
    job.add_argument("name", choices=list(JOBS), help="the job (as scheduled in app.py)")
    job.add_argument("--now", help="ISO time with offset, e.g. 2026-12-01T00:10:00+08:00")
    job.set_defaults(run=_job)
    dlq = commands.add_parser("dlq", help="list or redrive the events dead-letter queue")
    dlq.add_argument("action", choices=("list", "redrive"))
    dlq.add_argument("--limit", type=int, default=None, help="at most this many messages (list: 10)")
    dlq.set_defaults(run=_dlq)
    cli_import.add_parser(commands)  # import members FILE [--dry-run]
    cli_operators.add_parser(commands)  # operators create ID --role admin
    return parser


def explain(error: Exception) -> str | None:
    """What the operator can fix, in one line; None for anything else (a bug)."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
    from pynamodb.exceptions import PynamoDBException, TableDoesNotExist

    cause = error.cause if isinstance(error, PynamoDBException) and error.cause is not None else error
    where = os.environ.get("AWS_ENDPOINT_URL") or f"AWS ({os.environ.get('AWS_REGION') or 'default region'})"
    local = any(f"//{host}" in where for host in _LOCAL_HOSTS)
    if isinstance(cause, EndpointConnectionError):
        hint = (
            "is `make run` running? (set LOCAL_AWS_PORT if it runs on another port)" if local else "check the network"
        )
        return f"cannot reach DynamoDB/SQS at {where}: {hint}"
    if isinstance(cause, NoCredentialsError):
        return "no AWS credentials: for the local stack use `make job`, `make dlq` or `make reconcile`, which set them"
    code = cause.response.get("Error", {}).get("Code", "") if isinstance(cause, ClientError) else ""
    if code == "ResourceNotFoundException" or isinstance(error, TableDoesNotExist):
        prefix = os.environ.get("TABLE_PREFIX", "")
        return f"no table {prefix}… at {where}: `make run` creates them locally (or `create-tables`); is TABLE_PREFIX right?"
    if code in ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"):
        names = f"{os.environ.get('EVENTS_QUEUE_NAME', '')} / {os.environ.get('EVENTS_DLQ_NAME', '')}"
        return f"no queue {names} at {where}: `make run` creates them locally (or `create-queues`)"
    if isinstance(cause, BotoCoreError | ClientError) or isinstance(error, PynamoDBException):
        return f"AWS call failed at {where}: {error}"
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except UsageError as error:
        print(f"{PROG} {args.command}: {error} (see {PROG} {args.command} --help)", file=sys.stderr)
        raise
    except Exception as error:
        line = explain(error)
        if line is None:
            raise
        print(f"{PROG} {args.command}: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
