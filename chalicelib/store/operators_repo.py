"""Operator accounts (OperatorModel). Every change is one conditional write inside a unit of
work, so the audit entry of the admin request that made it commits with it."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import AlreadySet, OperatorNotFound
from chalicelib.domain.operators import Operator, OperatorStatus, Role
from chalicelib.settings import get_settings
from chalicelib.store.models import OperatorModel
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
    try:
        uow.commit()
    except TransactionFailed as error:
        if error.failed("operator"):
            raise AlreadySet(f"operator {operator.operator_id} exists", field="operator_id") from error
        raise


def update(operator_id: str, now: str, **changes: Any) -> None:
    """Sets the given fields (role, status, display_name, password_hash, key_hashes); a
    revocation passes `generation=+1` as `bump_generation=True`."""
    bump = changes.pop("bump_generation", False)
    actions = [getattr(OperatorModel, name).set(value) for name, value in changes.items()]
    actions.append(OperatorModel.updated_at.set(now))
    if bump:
        actions.append(OperatorModel.generation.add(1))
    uow = UnitOfWork(get_settings().region)
    uow.update("operator", OperatorModel(operator_id), actions=actions, condition=OperatorModel.operator_id.exists())
    try:
        uow.commit()
    except TransactionFailed as error:
        if error.failed("operator"):
            raise OperatorNotFound(f"no operator {operator_id}", field="operator_id") from error
        raise


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
