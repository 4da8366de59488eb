"""Top-ups (充值) and their refunds as WeChat Pay orders: ids, and what WeChat Pay's answer about
one must say before money moves. Pure: no I/O.

A top-up's id is its WeChat Pay out_trade_no, derived from the member and the Idempotency-Key
(a retried request is the same order); a refund's id is its out_refund_no, derived likewise.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from chalicelib.domain import keys
from chalicelib.domain.wallet import RefundQuote, RefundStatus, TopupRefunds, TopupStatus

# WeChat Pay's trade_state values that mean the money arrived (REFUND: paid, then refunded).
PAID_STATES = frozenset({"SUCCESS", "REFUND"})
# ... and those after which it never will (an order still NOTPAY or USERPAYING may yet be paid).
DEAD_STATES = frozenset({"CLOSED", "REVOKED", "PAYERROR"})
REFUND_STATES = {
    "SUCCESS": RefundStatus.SUCCESS,
    "CLOSED": RefundStatus.CLOSED,
    "PROCESSING": RefundStatus.PROCESSING,
    "ABNORMAL": RefundStatus.ABNORMAL,
}


def topup_id(member_id: str, idempotency_key: str) -> str:
    """`wt` + 24 hex: within out_trade_no's 6-32 letters and digits, opaque to callers."""
    return "wt" + hashlib.sha256(keys.key("topup", member_id, idempotency_key).encode()).hexdigest()[:24]


def refund_id(member_id: str, topup: str, idempotency_key: str) -> str:
    return "wr" + hashlib.sha256(keys.key("wallet-refund", member_id, topup, idempotency_key).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Topup:
    topup_id: str
    member_id: str
    openid: str
    amount_fen: int
    bonus_fen: int
    rule_code: str | None
    programme_version: int | None
    status: TopupStatus
    fingerprint: str
    created_at: str
    expires_at: str
    prepay_id: str | None = None
    pay_timestamp: str | None = None
    pay_nonce: str | None = None
    transaction_id: str | None = None
    paid_at: str | None = None
    closed_at: str | None = None
    settled_by: str | None = None
    refunded_principal_fen: int = 0
    bonus_due_fen: int = 0

    @property
    def refunds(self) -> TopupRefunds:
        return TopupRefunds(self.amount_fen, self.bonus_fen, self.refunded_principal_fen, self.bonus_due_fen)

    @property
    def ref(self) -> str:
        return f"topup:{self.topup_id}"


@dataclass(frozen=True)
class WalletRefund:
    refund_id: str
    topup_id: str
    member_id: str
    principal_fen: int
    bonus_due_fen: int
    bonus_taken_fen: int
    cash_fen: int
    status: RefundStatus
    fingerprint: str
    created_at: str
    updated_at: str
    wechat_refund_id: str | None = None
    finished_at: str | None = None

    @property
    def quote(self) -> RefundQuote:
        return RefundQuote(
            self.principal_fen, self.bonus_due_fen, self.bonus_taken_fen, self.bonus_due_fen - self.bonus_taken_fen
        )

    @property
    def ref(self) -> str:
        return f"refund:{self.refund_id}"


class PaymentMismatch(ValueError):
    """WeChat Pay's account of a payment does not match the order we made: never credited."""


def check_payment(topup: Topup, transaction: dict[str, Any], mchid: str, appid: str) -> str:
    """The transaction_id of a paid top-up, after checking that the payment is this order's."""
    return check_paid_order(topup.topup_id, topup.amount_fen, transaction, mchid, appid)


def check_paid_order(out_trade_no: str, amount_fen: int, transaction: dict[str, Any], mchid: str, appid: str) -> str:
    """The transaction_id of a paid WeChat Pay order of ours (a top-up, a checkout's cash part),
    after checking that the payment is this order's: our merchant and app, this out_trade_no,
    the full amount in CNY."""
    amount = transaction.get("amount") or {}
    expected = {
        "mchid": mchid,
        "appid": appid,
        "out_trade_no": out_trade_no,
        "amount.total": amount_fen,
        "amount.currency": "CNY",
    }
    found = {
        "mchid": transaction.get("mchid"),
        "appid": transaction.get("appid"),
        "out_trade_no": transaction.get("out_trade_no"),
        "amount.total": amount.get("total") if isinstance(amount, dict) else None,
        "amount.currency": (amount.get("currency") or "CNY") if isinstance(amount, dict) else None,
    }
    wrong = sorted(name for name, value in expected.items() if found[name] != value)
    if wrong:
        raise PaymentMismatch(f"payment does not match the top-up: {', '.join(wrong)}")
    transaction_id = transaction.get("transaction_id")
    if not isinstance(transaction_id, str) or not transaction_id:
        raise PaymentMismatch("payment without a transaction_id")
    return transaction_id


def refund_state(answer: dict[str, Any]) -> RefundStatus | None:
    """A refund's status from WeChat Pay's answer (`status`) or notification (`refund_status`)."""
    return REFUND_STATES.get(str(answer.get("status") or answer.get("refund_status") or ""))
