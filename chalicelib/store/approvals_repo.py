"""The approvals table: requests waiting for a second operator (`domain/approvals.py`), the
queue that lists them (by status, newest first) and their decisions.

Every write commits through a unit of work, so an operator's request, approval or rejection
carries its audit entry (and the decision its `approval.decided` event) in one transaction.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import replace
from typing import Any

from chalicelib.domain.approvals import Approval, ApprovalDecided, ApprovalStatus, decided_event
from chalicelib.domain.errors import InvalidInput
from chalicelib.settings import get_settings
from chalicelib.store import audit_repo
from chalicelib.store.models import ApprovalModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

TAG = "approval"
MEMBER_LIMIT = 50  # a member's requests shown at once: far more than one person ever has pending


def create(approval: Approval) -> Approval:
    """Idempotent: returns the stored approval when one with this id exists. An operator's
    request is audited with it (naming the member, whatever the route's path) unless the
    service described the request itself."""
    scope = audit_repo.current()
    if scope is not None and scope.entry.after is None:
        audit_repo.describe(
            target=f"member:{approval.member_id}",
            after={"approval_id": approval.approval_id, "kind": approval.kind, "status": str(approval.status),
                   "points": approval.points, "reason": approval.reason},
        )  # fmt: skip
    uow = UnitOfWork(get_settings().region)
    uow.put(TAG, _to_model(approval), condition=ApprovalModel.approval_id.does_not_exist())
    try:
        uow.commit()
        return approval
    except TransactionFailed as failure:
        if not failure.failed(TAG):
            raise
    stored = get(approval.approval_id)
    assert stored is not None
    return stored


def get(approval_id: str) -> Approval | None:
    try:
        item = ApprovalModel.get(approval_id, consistent_read=True)
    except ApprovalModel.DoesNotExist:
        return None
    return _from_model(item)


def decide(approval_id: str, approver: str, decided_at: str) -> bool:
    """Marks a pending approval approved (for requests applied in steps after it, like merges,
    rather than in the transaction of their effect), announcing it. False when it was approved
    already; ApprovalDecided when it was rejected meanwhile (the effect must not run)."""
    stored = get(approval_id)
    if stored is None or stored.status != ApprovalStatus.PENDING:
        return _settled(stored)
    decided = replace(stored, status=ApprovalStatus.APPROVED, decided_by=approver, decided_at=decided_at)
    if _commit_decision(decided):
        return True
    return _settled(get(approval_id))


def reject(approval: Approval, rejecter: str, reason: str, decided_at: str) -> Approval | None:
    """Marks a pending approval rejected (驳回), announcing it. None when it was decided
    meanwhile (the caller reads what won)."""
    decided = replace(
        approval,
        status=ApprovalStatus.REJECTED,
        decided_by=rejecter,
        decided_at=decided_at,
        rejection_reason=reason,
    )
    return decided if _commit_decision(decided) else None


def _commit_decision(decided: Approval) -> bool:
    """The status moves from pending, with its event, or nothing happens (False)."""
    assert decided.decided_by is not None and decided.decided_at is not None
    uow = UnitOfWork(get_settings().region)
    stage_decision(uow, TAG, decided.approval_id, decided.status, decided.decided_by, decided.decided_at,
                   decided.rejection_reason)  # fmt: skip
    uow.stage_event(decided_event(decided))
    try:
        uow.commit()
        return True
    except TransactionFailed as failure:
        if not failure.failed(TAG):
            raise
    return False


def stage_decision(
    uow: UnitOfWork, tag: str, approval_id: str, status: ApprovalStatus, by: str, at: str, reason: str | None = None
) -> None:
    """A pending request's decision, staged into `uow` under `tag`: refused unless still pending."""
    actions = [ApprovalModel.status.set(status), ApprovalModel.decided_by.set(by), ApprovalModel.decided_at.set(at)]
    if reason is not None:
        actions.append(ApprovalModel.rejection_reason.set(reason))
    condition = ApprovalModel.status == ApprovalStatus.PENDING
    uow.update(tag, ApprovalModel(approval_id), actions=actions, condition=condition)


def _settled(stored: Approval | None) -> bool:
    if stored is not None and stored.status == ApprovalStatus.REJECTED:
        raise ApprovalDecided(f"rejected by {stored.decided_by}", field="approval_id")
    return False


def page(status: ApprovalStatus, kind: str | None, limit: int, cursor: str | None) -> tuple[list[Approval], str | None]:
    """One status, newest first, by the `status-requested` index (a kind narrows it as a
    filter: each status partition holds every kind). The cursor is opaque to callers."""
    results = ApprovalModel.by_status.query(
        str(status),
        filter_condition=None if kind is None else ApprovalModel.kind == kind,
        scan_index_forward=False,
        limit=limit,
        page_size=limit,
        last_evaluated_key=_decode_cursor(cursor, status) if cursor else None,
    )
    found = [_from_model(item) for item in results]
    last = results.last_evaluated_key if len(found) >= limit else None
    return found, _encode_cursor(last) if last else None


def for_member(member_id: str) -> list[Approval]:
    """A member's requests, newest first: those on the member and the merges into it."""
    found: dict[str, Approval] = {}
    for index in (ApprovalModel.by_member, ApprovalModel.by_survivor):
        for item in index.query(member_id, scan_index_forward=False, limit=MEMBER_LIMIT):
            found.setdefault(item.approval_id, _from_model(item))
    return sorted(found.values(), key=lambda a: (a.requested_at, a.approval_id), reverse=True)[:MEMBER_LIMIT]


_CURSOR_KEYS = {"approval_id", "status", "requested_key"}


def _encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def _decode_cursor(cursor: str, status: ApprovalStatus) -> dict[str, Any]:
    """Only a key of this listing: `{"approval_id", "status": <this status>, "requested_key"}`,
    each a string. Any other shape would be DynamoDB's ValidationException (a 500), or a page
    of another status."""
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, RecursionError) as error:
        raise InvalidInput("cursor is not valid", field="cursor") from error
    valid = (
        isinstance(key, dict)
        and set(key) == _CURSOR_KEYS
        and all(
            isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str) for value in key.values()
        )
        and key["status"] == {"S": str(status)}
    )
    if not valid:
        raise InvalidInput("cursor is not valid", field="cursor")
    return dict(key)


def _to_model(approval: Approval) -> ApprovalModel:
    return ApprovalModel(
        approval.approval_id,
        member_id=approval.member_id,
        points=approval.points,
        reason=approval.reason,
        requested_by=approval.requested_by,
        requested_at=approval.requested_at,
        status=approval.status,
        fingerprint=approval.fingerprint,
        kind=approval.kind,
        detail=approval.detail or None,
        requested_key=f"{approval.requested_at}#{approval.approval_id}",
        survivor_id=approval.survivor_id,
    )


def _from_model(item: ApprovalModel) -> Approval:
    return Approval(
        approval_id=item.approval_id,
        member_id=item.member_id,
        points=int(item.points),
        reason=item.reason,
        requested_by=item.requested_by,
        requested_at=item.requested_at,
        status=ApprovalStatus(item.status),
        fingerprint=item.fingerprint,
        decided_by=item.decided_by,
        kind=item.kind or "adjust",
        detail=dict(item.detail or {}),
        decided_at=item.decided_at,
        rejection_reason=item.rejection_reason,
    )
