"""Operator accounts (OperatorModel). Every change is one conditional write inside a unit of
work, so the audit entry of the admin request that made it commits with it.

The number of active admins is a counter item changed in the same transaction as the
account: demoting or disabling an admin requires it to stay at one or more, so two admins
demoting each other at once cannot leave the console without one."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import AlreadySet, ApprovalNotAllowed, IdempotencyConflict, OperatorNotFound
from chalicelib.domain.operators import Operator, OperatorStatus, Role
from chalicelib.settings import get_settings
from chalicelib.store.models import CounterModel, OperatorModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork


def get(operator_id: str) -> Operator | None:
    try:
        item = OperatorModel.get(operator_id, consistent_read=True)
    except OperatorModel.DoesNotExist:
        return None
    return _operator(item)


def require(operator_id: str) -> Operator:
    found = get(operator_id)
    if found is None:
        raise OperatorNotFound(f"no operator {operator_id}", field="operator_id")
    return found


def list_all(limit: int = 200) -> list[Operator]:
    """Operators are few (a brand's console users): a bounded scan of a small table."""
    return sorted((_operator(item) for item in OperatorModel.scan(limit=limit)), key=lambda o: o.operator_id)


def create(operator: Operator) -> None:
    uow = UnitOfWork(get_settings().region)
    item = OperatorModel(
        operator.operator_id,
        role=str(operator.role),
        display_name=operator.display_name,
        status=str(operator.status),
        password_hash=operator.password_hash,
        key_hashes=operator.key_hashes or None,
        generation=operator.generation,
        created_at=operator.created_at,
        created_by=operator.created_by,
        wecom_userid=operator.wecom_userid,
    )
    uow.put("operator", item, condition=OperatorModel.operator_id.does_not_exist())
    if operator.role == Role.ADMIN and operator.active:
        _count_admins(uow, +1)
    try:
        uow.commit()
    except TransactionFailed as error:
        if error.failed("operator"):
            raise AlreadySet(f"operator {operator.operator_id} exists", field="operator_id") from error
        raise


def update(current: Operator, now: str, *, bump_generation: bool = False, **changes: Any) -> None:
    """Sets the given fields (role, status, display_name, password_hash, key_hashes, wecom_userid)
    of the account as it was read (`current`: a concurrent change of its role or status is a
    conflict, not a lost update); `bump_generation` revokes its tokens."""
    actions = [getattr(OperatorModel, name).set(value) for name, value in changes.items()]
    actions.append(OperatorModel.updated_at.set(now))
    if bump_generation:
        actions.append(OperatorModel.generation.add(1))
    as_read = (OperatorModel.role == str(current.role)) & (OperatorModel.status == str(current.status))
    uow = UnitOfWork(get_settings().region)
    uow.update("operator", OperatorModel(current.operator_id), actions=actions, condition=as_read)
    admins_after = _is_active_admin(changes.get("role", current.role), changes.get("status", current.status))
    admin_delta = int(admins_after) - int(_is_active_admin(current.role, current.status))
    if admin_delta:
        _count_admins(uow, admin_delta)
    try:
        uow.commit()
    except TransactionFailed as error:
        if error.failed(ADMINS_TAG):
            raise ApprovalNotAllowed(
                "the last active admin cannot be demoted or disabled", field="operator_id"
            ) from error
        if error.failed("operator"):
            raise IdempotencyConflict(f"operator {current.operator_id} changed meanwhile: read it again") from error
        raise


ADMINS_TAG = "admins"
_ADMINS_COUNTER = "active-admins"


def _is_active_admin(role: object, status: object) -> bool:
    return str(role) == Role.ADMIN and str(status) == OperatorStatus.ACTIVE


def _count_admins(uow: UnitOfWork, delta: int) -> None:
    item = CounterModel(_ADMINS_COUNTER)
    condition = CounterModel.total > -delta if delta < 0 else None  # stays at one or more
    uow.update(ADMINS_TAG, item, actions=[CounterModel.total.add(delta)], condition=condition)


def seed_admin_count(count: int) -> None:
    """For accounts written around this repository (test seeds, a restore): the counter set to
    the number of active admins."""
    CounterModel(_ADMINS_COUNTER, total=count).save()


def _operator(item: OperatorModel) -> Operator:
    return Operator(
        operator_id=item.operator_id,
        role=Role(item.role),
        display_name=item.display_name,
        status=OperatorStatus(item.status),
        password_hash=item.password_hash,
        key_hashes=dict(item.key_hashes or {}),
        generation=int(item.generation or 0),
        created_at=item.created_at,
        created_by=item.created_by,
        wecom_userid=item.wecom_userid,
    )
