"""The local stack's operator accounts: an admin who signs in with a password (the console),
and two operators with script keys (alice and bob, maker and checker), created on first run.

Their credentials are generated once and kept in `.local/operators.json` (0600, never in
git); the accounts live in the embedded tables like any brand's. Run with the stack's
environment (`local/run.py` does): `python -m local.operators FILE`.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

from chalicelib.clock import utc_now
from chalicelib.domain.operators import Operator, Role

ACCOUNTS = {"admin": Role.ADMIN, "alice": Role.OPERATOR, "bob": Role.OPERATOR}


def ensure_credentials(path: Path) -> dict[str, dict[str, str]]:
    """The admin's password and the operators' keys, generated on first run."""
    from chalicelib.security.passwords import KEY_PREFIX

    if path.exists():
        stored: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
        return stored
    credentials = {
        "admin": {"password": secrets.token_urlsafe(12)},
        **{
            name: {"key_id": "local001", "key": f"{KEY_PREFIX}local001_{secrets.token_urlsafe(32)}"}
            for name in ("alice", "bob")
        },
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(credentials, out, indent=2)
    return credentials


def ensure_accounts(path: Path) -> None:
    """Creates the accounts that are missing (an existing account is left as the console made it)."""
    from chalicelib.clock import iso
    from chalicelib.security.passwords import hash_key, hash_password
    from chalicelib.store import operators_repo

    credentials = ensure_credentials(path)
    for name, role in ACCOUNTS.items():
        if operators_repo.get(name) is not None:
            continue
        given = credentials[name]
        operators_repo.create(
            Operator(
                name,
                role,
                display_name=name.title(),
                password_hash=hash_password(given["password"]) if "password" in given else None,
                key_hashes={given["key_id"]: hash_key(given["key"])} if "key" in given else {},
                created_at=iso(utc_now()),
                created_by="make run",
            )
        )


if __name__ == "__main__":
    ensure_accounts(Path(sys.argv[1]))
