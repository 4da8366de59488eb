"""`python -m chalicelib.cli operators create ID --role admin`: an operator account made from a
machine with the stack's AWS credentials, for the first admin of a new stack (from then on,
admins manage accounts in the console). The password is asked for twice without echo, or
read from standard input with `--password-stdin` (one line, for automation); it is checked
by the same rules as the console's, and the account creation is audited as `cli:<user>`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from typing import Any

PROG = "python -m chalicelib.cli"


def add_parser(commands: Any) -> None:
    command = commands.add_parser("operators", help="create an operator account (the first admin of a stack)")
    command.add_argument("action", choices=("create",))
    command.add_argument("operator_id", help="lower case letters, digits, _ . -")
    command.add_argument("--role", choices=("admin", "operator", "auditor"), required=True)
    command.add_argument("--name", help="display name (default: the id)")
    command.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from chalicelib.clock import iso, utc_now
    from chalicelib.domain.audit import AuditEntry
    from chalicelib.domain.errors import DomainError
    from chalicelib.domain.operators import OPERATOR_ID, Role
    from chalicelib.services import operators
    from chalicelib.store import audit_repo

    if not OPERATOR_ID.fullmatch(args.operator_id):
        print(f"{PROG} operators: {args.operator_id!r} is not an operator id (a-z 0-9 _ . -)", file=sys.stderr)
        return 2
    password = _password(args.password_stdin)
    if password is None:
        print(f"{PROG} operators: the two passwords differ", file=sys.stderr)
        return 2
    by = f"cli:{getpass.getuser()}"
    request_id = uuid.uuid4().hex
    entry = AuditEntry(request_id, iso(utc_now()), by, "admin", "CLI operators create", "", request_id)
    try:
        with audit_repo.bind(entry):
            created = operators.create(
                args.operator_id, Role(args.role), args.name or args.operator_id, password, by, utc_now()
            )
    except DomainError as error:
        print(f"{PROG} operators: {error.field or 'operator'}: {error.detail or error.code}", file=sys.stderr)
        return 1
    print(f"created {created.operator_id} ({created.role}); sign in at POST /admin/auth/login")
    return 0


def _password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    return first if getpass.getpass("again: ") == first else None
