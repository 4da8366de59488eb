"""Request and response models of the operators' member service (会员查询) and approvals queue
(审核队列). Phones are masked (138****1234), WeChat ids shortened (`o6_abc…`): an operator
recognises a member without the console holding what would let anyone impersonate them."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import Field

from chalicelib.api.schemas import MergeMovedOut, Strict, TierOut

ID = r"^[A-Za-z0-9_\-:.]{1,64}$"  # our ids (docs_rules.KEY_PATTERN)
WECHAT_ID = r"^[A-Za-z0-9_\-]{1,64}$"  # openid, unionid, external_userid
PHONE = r"^\+?[0-9]{5,15}$"  # docs_rules.PHONE_PATTERN
ApprovalStatusOut = Literal["pending", "approved", "rejected"]


class MemberSearchQuery(Strict):
    """Exactly one of the fields (400 naming the field otherwise)."""

    member_id: str | None = Field(default=None, pattern=ID)
    phone: str | None = Field(default=None, pattern=PHONE, description="86 and 11 digits, or the number alone")
    openid: str | None = Field(default=None, pattern=WECHAT_ID, description="mini-program or official-account")
    unionid: str | None = Field(default=None, pattern=WECHAT_ID)
    external_userid: str | None = Field(default=None, pattern=WECHAT_ID, description="WeChat Work (企业微信)")


class MemberCardOut(Strict):
    member_id: str
    nickname: str | None
    phone: str | None = Field(description="masked, e.g. 138****1234")
    tier: TierOut
    balance: int
    merged_into: str | None = Field(description="set on a member a merge emptied: its survivor")


class MemberSearchOut(Strict):
    items: list[MemberCardOut]


class MemberIdentityOut(Strict):
    kind: Literal["unionid", "mini_openid", "mp_openid", "external_userid", "phone", "card"]
    value: str = Field(description="shortened (first characters and …) or masked")


class MemberTierOut(Strict):
    code: str
    name: str
    growth: int = Field(description="成长值")
    next_code: str | None
    next_name: str | None
    growth_to_next: int | None


class MemberPointsOut(Strict):
    balance: int
    debt: int = Field(description="欠分: points a refund clawed back after they were spent")


class MemberLotOut(Strict):
    expires_on: date
    points: int


class MemberLedgerEntryOut(Strict):
    entry_id: str
    kind: str
    points: int
    balance_after: int
    debt_after: int
    reason: str | None
    operator: str | None
    created_at: str


class MemberMergeOut(Strict):
    role: Literal["survivor", "merged"] = Field(description="this member's side of the merge")
    merged_id: str
    survivor_id: str
    status: Literal["started", "done"]
    trigger: str
    operator: str | None
    approved_by: str | None
    reason: str | None
    started_at: str
    finished_at: str | None


class MemberConsentOut(Strict):
    template_id: str
    remaining: int = Field(description="subscribe messages still allowed")


class ApprovalMergeOut(Strict):
    survivor_id: str
    merged_id: str
    trigger: str
    preview: MergeMovedOut


class ApprovalItemOut(Strict):
    approval_id: str
    kind: str = Field(description="adjust, merge, …")
    status: ApprovalStatusOut
    member_id: str = Field(description="the member adjusted; of a merge, the merged member")
    points: int
    reason: str
    requested_by: str = Field(description="an operator id, or member:<id> for a phone binding's merge")
    requested_at: str
    decided_by: str | None
    decided_at: str | None
    rejection_reason: str | None
    merge: ApprovalMergeOut | None = None


class MemberWalletOut(Strict):
    """储值: amounts in fen."""

    principal_fen: int = Field(description="本金: what the member paid, refundable while unspent")
    bonus_fen: int = Field(description="赠送金: what top-up offers gave")
    balance_fen: int = Field(description="principal + bonus")
    pending_fen: int = Field(description="top-ups not yet paid, with their bonus (they count towards the limit)")


class AdminWalletQuery(Strict):
    cursor: str | None = Field(default=None, max_length=64, description="next_cursor of the page before")
    limit: int = Field(default=20, ge=1, le=50)


class AdminWalletEntryOut(Strict):
    seq: int
    purse: Literal["principal", "bonus"]
    kind: str = Field(description="topup, spend, spend_return, refund, refund_return, merge_in, merge_out, forfeit")
    delta_fen: int
    balance_after_fen: int = Field(description="this purse's balance after the line")
    ref: str = Field(description="topup:<id>, refund:<id>, order:<id>, merge:<merged member>:in|out, close:<member>")
    created_at: str
    detail: dict[str, Any]


class AdminTopupOut(Strict):
    topup_id: str
    member_id: str = Field(description="who made it: an account merged into this one keeps its own id")
    status: Literal["pending", "paid", "closed"]
    amount_fen: int
    bonus_fen: int
    rule_code: str | None
    created_at: str
    paid_at: str | None
    closed_at: str | None
    transaction_id: str | None = Field(description="WeChat Pay's, once paid")
    refunded_principal_fen: int


class AdminWalletRefundOut(Strict):
    refund_id: str
    topup_id: str
    member_id: str = Field(description="the wallet it was taken from")
    status: Literal["requested", "processing", "abnormal", "success", "closed"]
    principal_fen: int
    bonus_taken_fen: int
    cash_fen: int
    created_at: str
    finished_at: str | None


class AdminWalletOut(Strict):
    member_id: str = Field(description="whose wallet this is: the member asked about, or its survivor")
    requested_id: str
    merged_into: str | None = Field(description="set when the member asked about was merged (会员合并)")
    closed: bool = Field(description="the account was closed (注销)")
    balances: MemberWalletOut
    items: list[AdminWalletEntryOut] = Field(description="both purses' ledger lines, newest first")
    next_cursor: str | None
    topups: list[AdminTopupOut] = Field(description="the latest, newest first, of the member and merged accounts")
    refunds: list[AdminWalletRefundOut] = Field(description="the latest, newest first")
    merged_accounts: list[str] = Field(description="members merged into this one")


class MemberDetailOut(Strict):
    member_id: str
    created_at: str
    nickname: str | None
    gender: str
    birthday: date | None
    phone: str | None = Field(description="masked, e.g. 138****1234")
    tags: list[str]
    last_active_on: str | None
    mp_followed: bool | None
    merged_into: str | None
    identities: list[MemberIdentityOut]
    tier: MemberTierOut
    points: MemberPointsOut
    lots: list[MemberLotOut]
    ledger: list[MemberLedgerEntryOut] = Field(description="the latest entries, newest first")
    merges: list[MemberMergeOut]
    consents: list[MemberConsentOut]
    pending_approvals: list[ApprovalItemOut]
    wallet: MemberWalletOut = Field(description="储值: this member's own wallet")


class ApprovalsQuery(Strict):
    status: ApprovalStatusOut = "pending"
    kind: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$")
    cursor: str | None = Field(default=None, max_length=2048)
    limit: int = Field(default=50, ge=1, le=100)


class ApprovalPageOut(Strict):
    items: list[ApprovalItemOut]
    next_cursor: str | None


class RejectIn(Strict):
    reason: str = Field(min_length=1, max_length=200, pattern=r"\S", description="why: shown to the requester")
