"""Request and response models of the wallet routes (储值): amounts are integer fen."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.schemas import Strict
from chalicelib.domain.wallet_rules import NAMED_CARD_LIMIT_FEN

TopupStatusOut = Literal["pending", "paid", "closed"]
RefundStatusOut = Literal["requested", "processing", "abnormal", "success", "closed"]


class WalletQuery(Strict):
    cursor: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=20, ge=1, le=50)


class TopupIn(Strict):
    amount_fen: int = Field(ge=1, le=NAMED_CARD_LIMIT_FEN, description="the programme's bounds apply (400 otherwise)")


class PaymentOut(Strict):
    """`wx.requestPayment`'s parameters, as they are passed to it."""

    timeStamp: str  # noqa: N815 - WeChat's names
    nonceStr: str  # noqa: N815
    package: str
    signType: Literal["RSA"]  # noqa: N815
    paySign: str  # noqa: N815


class TopupOut(Strict):
    topup_id: str
    status: TopupStatusOut = Field(description="pending until WeChat Pay confirms the payment")
    amount_fen: int
    bonus_fen: int = Field(description="赠送金, by the rule in force when the top-up was made")
    rule_code: str | None
    created_at: str
    expires_at: str = Field(description="an unpaid top-up closes then")
    paid_at: str | None
    refunded_principal_fen: int
    payment: PaymentOut | None = Field(description="while pending: call wx.requestPayment with it")


class WalletEntryOut(Strict):
    seq: int
    purse: Literal["principal", "bonus"] = Field(description="本金 or 赠送金: each purse has its own ledger")
    kind: Literal["topup", "spend", "spend_return", "refund", "refund_return", "merge_out", "merge_in", "forfeit"]
    title: str
    delta_fen: int
    balance_after_fen: int = Field(description="this purse's balance after the line")
    ref: str = Field(description="topup:<topup_id>, refund:<refund_id> or order:<order_id>")
    created_at: str


class TopupTierOut(Strict):
    min_fen: int
    bonus_fen: int


class TopupOfferOut(Strict):
    code: str
    name: str
    starts_on: str | None
    ends_on: str | None
    tiers: list[TopupTierOut]


class PendingTopupOut(Strict):
    topup_id: str
    amount_fen: int
    bonus_fen: int
    created_at: str
    expires_at: str


class WalletOut(Strict):
    enabled: bool = Field(description="false: top-ups are not offered now (the balance stays usable)")
    principal_fen: int
    bonus_fen: int
    balance_fen: int = Field(description="principal + bonus")
    limit_fen: int = Field(description="what the card may hold, pending top-ups included")
    spend_order: Literal["principal_first", "bonus_first", "proportional"]
    min_topup_fen: int
    max_topup_fen: int
    offers: list[TopupOfferOut]
    pending_topups: list[PendingTopupOut] = Field(description="paid at WeChat Pay or not, not yet credited")
    items: list[WalletEntryOut]
    next_cursor: str | None


class WalletRefundQuoteQuery(Strict):
    principal_fen: int | None = Field(default=None, ge=1, le=NAMED_CARD_LIMIT_FEN, description="absent: all of it")


class WalletRefundQuoteOut(Strict):
    topup_id: str
    principal_fen: int = Field(description="unspent principal of this top-up that leaves the wallet")
    refundable_principal_fen: int = Field(description="the most that can be asked for")
    bonus_due_fen: int = Field(description="the bonus that came with it, in proportion (rounded down)")
    bonus_taken_fen: int = Field(description="taken from the bonus purse")
    deducted_fen: int = Field(description="bonus already spent, deducted from the money paid back")
    cash_fen: int = Field(description="paid back to the WeChat Pay account: confirm with this")


class WalletRefundIn(Strict):
    principal_fen: int | None = Field(default=None, ge=1, le=NAMED_CARD_LIMIT_FEN, description="as quoted")
    cash_fen: int = Field(ge=1, le=NAMED_CARD_LIMIT_FEN, description="the quote's cash_fen (409 if it moved)")


class WalletRefundOut(Strict):
    refund_id: str
    topup_id: str
    status: RefundStatusOut = Field(description="success and closed are final; closed gives the amounts back")
    principal_fen: int
    bonus_taken_fen: int
    deducted_fen: int
    cash_fen: int
    created_at: str
