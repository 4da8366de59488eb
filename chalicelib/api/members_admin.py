"""The operators' member service (会员查询) and approvals queue (审核队列): find a member by
any identity, read their whole page and their wallet (储值), list the requests waiting for a
second operator, and reject one (approving stays at `/admin/approvals/{approval_id}/approve`, api/admin.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import OPERATOR
from chalicelib.api.lazy_schemas import schemas as base
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now
from chalicelib.domain.approvals import Approval, ApprovalStatus
from chalicelib.domain.ledger import LedgerEntry
from chalicelib.domain.members import Member

if TYPE_CHECKING:
    from chalicelib.api import schemas_members_admin as s
    from chalicelib.domain.wallet import Wallet
    from chalicelib.services.member_service import MemberDetail, MemberMerge, MemberWallet
else:
    s = lazy_module("chalicelib.api.schemas_members_admin")

bp = Blueprint(__name__)


@route(
    bp,
    "/admin/members/search",
    "GET",
    auth_kind=OPERATOR,
    permission="members.read",
    tag="admin",
    summary="Find a member by exactly one of member_id, phone, openid, unionid, external_userid",
    query="MemberSearchQuery",
    response="MemberSearchOut",
    errors=(400, 401, 503),
)
def search(call: Call) -> s.MemberSearchOut:
    from chalicelib.services import member_service

    query: s.MemberSearchQuery = call.query
    found = member_service.search(query.model_dump())
    return s.MemberSearchOut(items=[_card(member) for member in found])


@route(
    bp,
    "/admin/members/{member_id}",
    "GET",
    auth_kind=OPERATOR,
    permission="members.read",
    tag="admin",
    summary="A member's page: profile, identities, tier, points and lots, recent ledger, merges, consents, "
    "pending requests",
    response="MemberDetailOut",
    errors=(400, 401, 404, 503),
)
def member_detail(call: Call) -> s.MemberDetailOut:
    from chalicelib.services import member_service

    return _detail(member_service.detail(call.path["member_id"]))


@route(
    bp,
    "/admin/members/{member_id}/wallet",
    "GET",
    auth_kind=OPERATOR,
    permission="wallet.read",
    tag="admin",
    summary="A member's wallet (储值): balances, a page of the ledger, the latest top-ups and refunds; "
    "a merged member's survivor",
    query="AdminWalletQuery",
    response="AdminWalletOut",
    errors=(400, 401, 404, 503),
)
def member_wallet(call: Call) -> s.AdminWalletOut:
    from chalicelib.services import member_service

    query: s.AdminWalletQuery = call.query
    return _wallet(member_service.wallet(call.path["member_id"], query.limit, query.cursor))


@route(
    bp,
    "/admin/approvals",
    "GET",
    auth_kind=OPERATOR,
    permission="approvals.read",
    tag="admin",
    summary="The approvals queue: requests of one status (default pending), newest first",
    query="ApprovalsQuery",
    response="ApprovalPageOut",
    errors=(400, 401, 503),
)
def approvals_queue(call: Call) -> s.ApprovalPageOut:
    from chalicelib.store import approvals_repo

    query: s.ApprovalsQuery = call.query
    found, cursor = approvals_repo.page(ApprovalStatus(query.status), query.kind, query.limit, query.cursor)
    return s.ApprovalPageOut(items=[approval_out(a) for a in found], next_cursor=cursor)


@route(
    bp,
    "/admin/approvals/{approval_id}/reject",
    "POST",
    auth_kind=OPERATOR,
    permission="approvals.decide",
    tag="admin",
    summary="Reject (驳回) a pending request, with a reason (not by its requester); nothing it asked for happens",
    body="RejectIn",
    response="ApprovalItemOut",
    errors=(400, 401, 404, 409, 503),
)
def reject(call: Call) -> s.ApprovalItemOut:
    from chalicelib.services import approvals

    body: s.RejectIn = call.body
    return approval_out(approvals.reject(call.path["approval_id"], call.caller, body.reason, utc_now()))


def approval_out(approval: Approval) -> s.ApprovalItemOut:
    detail = approval.detail
    merge = None
    if approval.survivor_id and isinstance(detail.get("preview"), dict):
        preview = {
            name: int(detail["preview"].get(name, 0)) for name in ("points", "debt", "growth", "lots", "aliases")
        }
        merge = s.ApprovalMergeOut(
            survivor_id=approval.survivor_id,
            merged_id=str(detail.get("merged_id") or approval.member_id),
            trigger=str(detail.get("trigger") or ""),
            preview=base.MergeMovedOut(**preview),
        )
    return s.ApprovalItemOut(
        approval_id=approval.approval_id,
        kind=approval.kind,
        status=approval.status,  # type: ignore[arg-type]
        member_id=approval.member_id,
        points=approval.points,
        reason=approval.reason,
        requested_by=approval.requested_by,
        requested_at=approval.requested_at,
        decided_by=approval.decided_by,
        decided_at=approval.decided_at,
        rejection_reason=approval.rejection_reason,
        merge=merge,
    )


def _card(member: Member) -> s.MemberCardOut:
    from chalicelib.services.tiers import tier_name

    return s.MemberCardOut(
        member_id=member.member_id,
        nickname=member.nickname,
        phone=member.phone_masked,
        tier=base.TierOut(code=member.tier_code, name=tier_name(member.tier_code)),
        balance=member.balance,
        merged_into=member.merged_into,
    )


def _detail(found: MemberDetail) -> s.MemberDetailOut:
    from chalicelib.services.tiers import tier_name

    member, following = found.member, found.next_tier
    return s.MemberDetailOut(
        member_id=member.member_id,
        created_at=member.created_at,
        nickname=member.nickname,
        gender=member.gender,
        birthday=member.birthday,
        phone=member.phone_masked,
        tags=sorted(member.tags),
        last_active_on=member.last_active_on,
        mp_followed=member.mp_followed,
        merged_into=member.merged_into,
        identities=[s.MemberIdentityOut(kind=i.kind, value=i.value) for i in found.identities],  # type: ignore[arg-type]
        tier=s.MemberTierOut(
            code=member.tier_code,
            name=tier_name(member.tier_code),
            growth=member.growth,
            next_code=following.code if following else None,
            next_name=following.name if following else None,
            growth_to_next=following.growth_needed if following else None,
        ),
        points=s.MemberPointsOut(balance=member.balance, debt=member.debt),
        lots=[s.MemberLotOut(expires_on=lot.expires_on, points=lot.remaining) for lot in found.lots],
        ledger=[_entry(entry) for entry in found.ledger],
        merges=[_merge(merge) for merge in found.merges],
        consents=[s.MemberConsentOut(template_id=t, remaining=n) for t, n in sorted(found.consents.items())],
        pending_approvals=[approval_out(a) for a in found.pending_approvals],
        wallet=_balances(found.wallet),
    )


def _balances(wallet: Wallet) -> s.MemberWalletOut:
    return s.MemberWalletOut(
        principal_fen=wallet.principal,
        bonus_fen=wallet.bonus,
        balance_fen=wallet.principal + wallet.bonus,
        pending_fen=wallet.pending_fen,
    )


def _wallet(found: MemberWallet) -> s.AdminWalletOut:
    entries = [
        s.AdminWalletEntryOut(seq=e.seq, purse=str(e.purse), kind=str(e.kind), delta_fen=e.delta,  # type: ignore[arg-type]
                              balance_after_fen=e.balance_after, ref=e.ref, created_at=e.created_at, detail=e.detail)
        for e in found.entries
    ]  # fmt: skip
    topup_fields = ("topup_id", "member_id", "amount_fen", "bonus_fen", "rule_code", "created_at", "paid_at",
                    "closed_at", "transaction_id", "refunded_principal_fen")  # fmt: skip
    refund_fields = ("refund_id", "topup_id", "member_id", "principal_fen", "bonus_taken_fen", "cash_fen",
                     "created_at", "finished_at")  # fmt: skip
    return s.AdminWalletOut(
        member_id=found.member_id,
        requested_id=found.asked_id,
        merged_into=found.merged_into,
        closed=found.closed,
        balances=_balances(found.wallet),
        items=entries,
        next_cursor=found.next_cursor,
        topups=[
            s.AdminTopupOut(status=str(t.status), **{n: getattr(t, n) for n in topup_fields})  # type: ignore[arg-type]
            for t in found.topups
        ],
        refunds=[
            s.AdminWalletRefundOut(status=str(r.status), **{n: getattr(r, n) for n in refund_fields})  # type: ignore[arg-type]
            for r in found.refunds
        ],
        merged_accounts=found.merged_accounts,
    )


def _entry(entry: LedgerEntry) -> s.MemberLedgerEntryOut:
    return s.MemberLedgerEntryOut(
        entry_id=entry.entry_id,
        kind=entry.kind,
        points=entry.delta,
        balance_after=entry.balance_after,
        debt_after=entry.debt_after,
        reason=entry.reason,
        operator=entry.operator,
        created_at=entry.created_at,
    )


def _merge(merge: MemberMerge) -> s.MemberMergeOut:
    record = merge.record
    return s.MemberMergeOut(
        role=merge.role,  # type: ignore[arg-type]
        merged_id=record.merged_id,
        survivor_id=record.survivor_id,
        status=record.status,  # type: ignore[arg-type]
        trigger=record.trigger,
        operator=record.operator,
        approved_by=record.approved_by,
        reason=record.reason,
        started_at=record.started_at,
        finished_at=record.finished_at,
    )
