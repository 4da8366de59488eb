"""Privacy requests (个人信息保护法): a member's consents, and what every privacy request shares.

The export (`privacy_export.py`) and the closing of an account (`privacy_deletion.py`) live
beside this module. A closed account's tokens stop working: the member check of every member
request (`refuse_closed`) reads the account state, so the refusal is at once, whatever tokens
are out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain.audit import AuditEntry, summary
from chalicelib.domain.errors import MemberNotFound, Unauthorized
from chalicelib.domain.members import PrivacyState
from chalicelib.settings import get_settings
from chalicelib.store import audit_repo, members_repo, notify_repo, privacy_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork


@dataclass(frozen=True)
class Consents:
    marketing: bool
    marketing_changed_at: str | None
    subscribe_messages: dict[str, int]  # template id → sends still allowed (订阅消息)


def refuse_closed(member_id: str) -> None:
    """401 for a token of a closed account (注销). An unknown member id passes: the route
    answers it as it always has (404)."""
    found = privacy_repo.state(member_id)
    if found is not None and found.closed:
        raise Unauthorized("the account was closed", code="member_deleted")


def live_member_id(member_id: str) -> str:
    """The account a request concerns: a merged member's survivor (会员合并)."""
    return members_repo.get_live_member(member_id, closed_ok=True).member_id


def consents(member_id: str) -> Consents:
    live = live_member_id(member_id)
    found = _state(live)
    return Consents(found.marketing, found.marketing_changed_at, notify_repo.consents(live))


def set_marketing(member_id: str, granted: bool, now: datetime) -> Consents:
    """Grant or withdraw marketing (营销推送) at once: the campaign sender reads it before each
    message. Setting what is already set changes nothing and writes nothing."""
    live = live_member_id(member_id)
    before = _state(live)
    if before.marketing != granted or before.marketing_changed_at is None:
        audit_repo.describe(
            target=f"member:{live}", before={"marketing": before.marketing}, after={"marketing": granted}
        )
        uow = UnitOfWork(get_settings().region)
        privacy_repo.stage_marketing(uow, live, granted, iso(now))
        try:
            uow.commit()
        except TransactionFailed as failure:
            if failure.failed("member"):
                raise MemberNotFound(live) from failure
            raise
    return consents(live)


def _state(member_id: str) -> PrivacyState:
    found = privacy_repo.state(member_id)
    if found is None or found.closed:
        raise MemberNotFound(member_id)
    return found


def record_read(member_id: str, after: dict[str, Any], entry: AuditEntry | None) -> None:
    """An audited read (an export): its entry is written before the data leaves. `entry` is the
    operator route's; a member's own route is bound by the router, whose scope is used."""
    scope = audit_repo.current()
    if entry is None:
        if scope is None or scope.recorded:
            return  # outside a request (a script, a test): nothing to record
        entry = scope.entry
    written = replace(entry, target=f"member:{member_id}", after=summary(after))
    audit_repo.record(written)
    if scope is not None and scope.entry is entry:
        scope.recorded = True


def read_entry(operator: str, role: str, action: str, request_key: str, now: datetime) -> AuditEntry:
    """The audit entry of an operator's audited read."""
    return AuditEntry(
        audit_id=request_key,
        at=iso(now),
        operator=operator,
        role=role,
        action=action,
        target="",
        request_id=request_key,
    )
