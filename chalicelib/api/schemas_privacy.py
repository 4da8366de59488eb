"""Request and response models of the privacy routes (个人信息保护法): consents, export, deletion."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chalicelib.api.schemas import Strict


class MarketingConsentOut(Strict):
    granted: bool = Field(description="marketing (营销推送) may reach the member; granted until withdrawn")
    changed_at: str | None = Field(description="when the member last chose; null: never chose")


class ConsentsOut(Strict):
    marketing: MarketingConsentOut
    subscribe_messages: dict[str, int] = Field(description="template id → sends still allowed (订阅消息)")


class ConsentsPatch(Strict):
    marketing: bool = Field(description="false withdraws marketing at once; true grants it again")


class DeletionIn(Strict):
    """An operator closes an account on the member's request: say which request."""

    reason: str = Field(min_length=1, max_length=200, description="the member's request, e.g. a ticket number")


class DeletionCountsOut(Strict):
    aliases: int = Field(description="identities released (unionid, openids, WeChat Work, phone, card)")
    consents: int = Field(description="subscribe-message consents dropped")
    merged_accounts: int = Field(description="accounts merged into this one, erased with it")
    requests: int = Field(description="requests waiting for a second operator, rejected")
    points_forfeited: int
    debt_forgiven: int


class DeletionOut(Strict):
    member_id: str
    status: Literal["deleted"]
    deleted_at: str | None
    released: DeletionCountsOut


class ExportIdentityOut(Strict):
    alias: str
    member_id: str
    created_at: str


class ExportTierOut(Strict):
    code: str | None
    name: str | None
    growth: int


class ExportPointsOut(Strict):
    balance: int
    debt: int
    pending: int = 0


class ExportPendingOut(Strict):
    """An order's points held in its return window (冻结期)."""

    order_id: str
    points: int
    earned: int
    release_on: str


class ExportLotOut(Strict):
    expires_on: str
    remaining: int


class ExportLedgerOut(Strict):
    entry_id: str
    member_id: str
    seq: int
    kind: str
    delta: int
    balance_after: int
    debt_after: int
    created_at: str
    reason: str | None
    source: str | None
    operator: str | None
    detail: dict[str, Any]
    refunded_fen: int | None


class ExportOrderOut(Strict):
    order_id: str
    amount_fen: int
    paid_at: str | None
    store_id: str | None
    points: int
    growth: int
    refunded_fen: int
    recorded_at: str


class ExportMergeOut(Strict):
    merged_id: str
    survivor_id: str
    status: str
    trigger: str
    started_at: str
    finished_at: str | None


class ExportMergedAccountOut(Strict):
    member_id: str
    profile: dict[str, Any]
    ledger: list[ExportLedgerOut]


class ExportDeliveryOut(Strict):
    delivery_id: str
    member_id: str | None
    status: str
    created_at: str
    detail: dict[str, Any]


class ExportApprovalOut(Strict):
    approval_id: str
    kind: str
    status: str
    points: int
    reason: str
    requested_at: str
    decided_at: str | None


class ExportAuditOut(Strict):
    action: str
    at: str
    role: str


class ExportOut(Strict):
    """Everything held about the member (个人信息副本), one section per table holding member data."""

    member_id: str
    generated_at: str
    profile: dict[str, Any] = Field(description="the member item as held; the phone in full")
    identities: list[ExportIdentityOut]
    tier: ExportTierOut
    points: ExportPointsOut
    lots: list[ExportLotOut]
    pending: list[ExportPendingOut] = []
    coupons: list[dict[str, Any]] = Field(default=[], description="the member's coupons (优惠券), used or not")
    wallet: list[dict[str, Any]] = Field(default=[], description="stored value (储值): principal and bonus")
    wallet_ledger: list[dict[str, Any]] = Field(default=[], description="every move of either purse")
    topups: list[dict[str, Any]] = Field(default=[], description="top-ups through WeChat Pay, as held")
    topup_refunds: list[dict[str, Any]] = Field(default=[], description="refunds of top-ups, as held")
    mall_redemptions: list[dict[str, Any]] = Field(
        default=[], description="points mall redemptions (积分商城) and their delivery addresses, the phone in full"
    )
    member_card: list[dict[str, Any]] = Field(
        default=[], description="the WeChat member card (会员卡) and what we last pushed to it"
    )
    checkouts: list[dict[str, Any]] = Field(
        default=[], description="checked-out orders (收银结算): each line's tier, coupon, points, wallet and cash parts"
    )
    referrals: list[dict[str, Any]] = Field(
        default=[],
        description="who invited the member (邀请有礼) and the invitations the member made, invitees unnamed",
    )
    ledger: list[ExportLedgerOut]
    orders: list[ExportOrderOut]
    merges: list[ExportMergeOut]
    merged_accounts: list[ExportMergedAccountOut]
    consents: ConsentsOut
    deliveries: list[ExportDeliveryOut]
    approvals: list[ExportApprovalOut]
    audit: list[ExportAuditOut]
    checkins: list[dict[str, Any]] = Field(
        description="check-in days (签到) and the streak summary (`day` state), as held"
    )
