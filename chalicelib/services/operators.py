"""Operator accounts, managed by admins: create, change role or name, disable, reset a
password, issue or withdraw a script key, revoke every token. Each is an audited admin write.

An admin cannot lower their own role or disable themselves, and the last active admin cannot
be demoted or disabled by anyone (operators_repo counts them in the same transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.clock import iso
from chalicelib.domain.errors import ApprovalNotAllowed, InvalidInput, OperatorNotFound
from chalicelib.domain.operators import CONSOLE_ROLES, Operator, OperatorStatus, Role
from chalicelib.security import passwords
from chalicelib.store import audit_repo, operators_repo


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    key: str  # shown once; only its hash is kept


def create(
    operator_id: str,
    role: Role,
    display_name: str,
    password: str | None,
    by: str,
    now: datetime,
    wecom_userid: str | None = None,
) -> Operator:
    if role not in CONSOLE_ROLES:
        raise InvalidInput("an operator account is admin, operator or auditor", field="role")
    _check_password(password, operator_id)
    operator = Operator(
        operator_id,
        role,
        display_name,
        password_hash=passwords.hash_password(password) if password else None,
        created_at=iso(now),
        created_by=by,
        wecom_userid=wecom_userid,
    )
    audit_repo.describe(target=f"operator:{operator_id}", after={"role": role, "display_name": display_name})
    operators_repo.create(operator)
    return operator


def update(
    operator_id: str,
    by: str,
    now: datetime,
    *,
    role: Role | None = None,
    status: OperatorStatus | None = None,
    display_name: str | None = None,
    password: str | None = None,
    wecom_userid: str | None = None,
) -> Operator:
    current = operators_repo.require(operator_id)
    if role is not None and role not in CONSOLE_ROLES:
        raise InvalidInput("an operator account is admin, operator or auditor", field="role")
    demoting = role not in (None, Role.ADMIN) or status == OperatorStatus.DISABLED
    if current.role == Role.ADMIN and current.operator_id == by and demoting:
        raise ApprovalNotAllowed("an admin cannot demote or disable themselves", field="operator_id")
    _check_password(password, operator_id)
    given = {"role": role, "status": status, "display_name": display_name, "wecom_userid": wecom_userid}
    changes: dict[str, object] = {name: str(value) for name, value in given.items() if value is not None}
    if password is not None:
        changes["password_hash"] = passwords.hash_password(password)
    # A new role, a disabled account or a reset password ends the tokens already out.
    bump = role is not None or status == OperatorStatus.DISABLED or password is not None
    before = {"role": current.role, "status": current.status, "display_name": current.display_name}
    after = {**before, **{k: v for k, v in changes.items() if k != "password_hash"}}
    if password is not None:
        after["sign_in_reset"] = True  # (a key named after passwords is redacted)
    audit_repo.describe(target=f"operator:{operator_id}", before=before, after=after)
    operators_repo.update(current, iso(now), bump_generation=bump, **changes)
    return operators_repo.require(operator_id)


def issue_key(operator_id: str, now: datetime) -> IssuedKey:
    current = operators_repo.require(operator_id)
    key_id, key, digest = passwords.new_key()
    keys = {**current.key_hashes, key_id: digest}
    audit_repo.describe(
        target=f"operator:{operator_id}",
        before={"key_ids": sorted(current.key_hashes)},
        after={"key_ids": sorted(keys)},
    )
    operators_repo.update(current, iso(now), key_hashes=keys)
    return IssuedKey(key_id, key)


def withdraw_key(operator_id: str, key_id: str, now: datetime) -> None:
    current = operators_repo.require(operator_id)
    if key_id not in current.key_hashes:
        raise OperatorNotFound(f"operator {operator_id} has no key {key_id}", field="key_id")
    keys = {k: v for k, v in current.key_hashes.items() if k != key_id}
    audit_repo.describe(
        target=f"operator:{operator_id}",
        before={"key_ids": sorted(current.key_hashes)},
        after={"key_ids": sorted(keys)},
    )
    operators_repo.update(current, iso(now), key_hashes=keys or None)


def revoke_sessions(operator_id: str, now: datetime) -> Operator:
    """Every console token of the operator stops working (script keys are withdrawn one by one)."""
    current = operators_repo.require(operator_id)
    audit_repo.describe(
        target=f"operator:{operator_id}", before={"generation": current.generation},
        after={"generation": current.generation + 1},
    )  # fmt: skip
    operators_repo.update(current, iso(now), bump_generation=True)
    return operators_repo.require(operator_id)


def _check_password(password: str | None, operator_id: str) -> None:
    if password is None:
        return
    reason = passwords.weak_password_reason(password, operator_id)
    if reason is not None:
        raise InvalidInput(f"password {reason}", field="password")
