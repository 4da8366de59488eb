"""The wallet routes (储值): the member's balance and ledger, top-ups through WeChat Pay, and the
refund of a top-up (quote first, then confirm)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import MEMBER
from chalicelib.api.errors import message
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now

if TYPE_CHECKING:
    from chalicelib.api import schemas_wallet as s
    from chalicelib.domain.topups import Topup, WalletRefund
    from chalicelib.domain.wallet import WalletEntry
    from chalicelib.domain.wallet_rules import TopupRule
else:
    s = lazy_module("chalicelib.api.schemas_wallet")

bp = Blueprint(__name__)


@route(
    bp,
    "/v1/wallet",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    summary="My wallet: principal and bonus balances, pending top-ups, offers, and a page of the ledger",
    query="WalletQuery",
    response="WalletOut",
    errors=(400, 401, 404),
)
def get_wallet(call: Call) -> s.WalletOut:
    from chalicelib.services import wallet

    found = wallet.view(call.caller, call.query.limit, call.query.cursor, utc_now())
    rules, balances = found.rules, found.balances
    return s.WalletOut(
        enabled=rules.enabled,
        principal_fen=balances.principal,
        bonus_fen=balances.bonus,
        balance_fen=balances.total,
        limit_fen=rules.max_balance_fen,
        spend_order=rules.spend_order,
        min_topup_fen=rules.min_topup_fen,
        max_topup_fen=rules.max_topup_fen,
        offers=[_offer(rule) for rule in found.offers],
        pending_topups=[
            s.PendingTopupOut(
                topup_id=t.topup_id,
                amount_fen=t.amount_fen,
                bonus_fen=t.bonus_fen,
                created_at=t.created_at,
                expires_at=t.expires_at,
            )
            for t in found.pending
        ],
        items=[_entry(entry) for entry in found.entries],
        next_cursor=found.next_cursor,
    )


@route(
    bp,
    "/v1/wallet/topups",
    "POST",
    auth_kind=MEMBER,
    tag="member",
    summary="Top up (充值): a WeChat Pay order and wx.requestPayment's parameters; pending until paid",
    body="TopupIn",
    response="TopupOut",
    status=201,
    idempotency_key="required",
    errors=(400, 401, 403, 404, 409, 503),
)
def create_topup(call: Call) -> s.TopupOut:
    from chalicelib.services import topups

    result = topups.create(call.caller, call.body.amount_fen, str(call.idempotency_key), utc_now())
    return _topup(result.topup, result.payment)


@route(
    bp,
    "/v1/wallet/topups/{topup_id}",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    summary="One of my top-ups: its status (and, while pending, the payment parameters again)",
    response="TopupOut",
    errors=(400, 401, 403, 404),
)
def get_topup(call: Call) -> s.TopupOut:
    from chalicelib.domain.wallet import TopupStatus
    from chalicelib.services import topups

    topup = topups.get(call.caller, call.path["topup_id"])
    payment = None
    if topup.status == TopupStatus.PENDING and topup.prepay_id and topup.pay_timestamp and topup.pay_nonce:
        payment = topups.pay_client().payment_params(topup.prepay_id, topup.pay_timestamp, topup.pay_nonce)
    return _topup(topup, payment)


@route(
    bp,
    "/v1/wallet/topups/{topup_id}/refund-quote",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    summary="What a refund of this top-up pays back: unspent principal, less the bonus already spent",
    query="WalletRefundQuoteQuery",
    response="WalletRefundQuoteOut",
    errors=(400, 401, 404, 409),
)
def refund_quote(call: Call) -> s.WalletRefundQuoteOut:
    from chalicelib.domain.wallet import refundable_principal
    from chalicelib.services import wallet_refunds
    from chalicelib.store import wallet_repo

    topup, quote = wallet_refunds.quote(call.caller, call.path["topup_id"], call.query.principal_fen, utc_now())
    most = refundable_principal(topup.refunds, wallet_repo.get_wallet(topup.member_id).balances)
    return s.WalletRefundQuoteOut(
        topup_id=topup.topup_id,
        principal_fen=quote.principal_fen,
        refundable_principal_fen=most,
        bonus_due_fen=quote.bonus_due_fen,
        bonus_taken_fen=quote.bonus_taken_fen,
        deducted_fen=quote.deducted_fen,
        cash_fen=quote.cash_fen,
    )


@route(
    bp,
    "/v1/wallet/topups/{topup_id}/refunds",
    "POST",
    auth_kind=MEMBER,
    tag="member",
    summary="Refund this top-up as quoted (cash_fen from the quote): the amounts leave the wallet at once",
    body="WalletRefundIn",
    response="WalletRefundOut",
    status=201,
    idempotency_key="required",
    errors=(400, 401, 403, 404, 409, 503),
)
def request_refund(call: Call) -> s.WalletRefundOut:
    from chalicelib.services import wallet_refunds

    body: s.WalletRefundIn = call.body
    refund = wallet_refunds.request(
        call.caller, call.path["topup_id"], body.principal_fen, body.cash_fen, str(call.idempotency_key), utc_now()
    )
    return _refund(refund)


def _topup(topup: Topup, payment: dict[str, str] | None) -> s.TopupOut:
    return s.TopupOut(
        topup_id=topup.topup_id,
        status=topup.status.value,
        amount_fen=topup.amount_fen,
        bonus_fen=topup.bonus_fen,
        rule_code=topup.rule_code,
        created_at=topup.created_at,
        expires_at=topup.expires_at,
        paid_at=topup.paid_at,
        refunded_principal_fen=topup.refunded_principal_fen,
        payment=s.PaymentOut(**payment) if payment else None,  # type: ignore[arg-type]
    )


def _refund(refund: WalletRefund) -> s.WalletRefundOut:
    return s.WalletRefundOut(
        refund_id=refund.refund_id,
        topup_id=refund.topup_id,
        status=refund.status.value,
        principal_fen=refund.principal_fen,
        bonus_taken_fen=refund.bonus_taken_fen,
        deducted_fen=refund.bonus_due_fen - refund.bonus_taken_fen,
        cash_fen=refund.cash_fen,
        created_at=refund.created_at,
    )


def _entry(entry: WalletEntry) -> s.WalletEntryOut:
    return s.WalletEntryOut(
        seq=entry.seq,
        purse=entry.purse.value,
        kind=entry.kind.value,
        title=message(f"wallet_entry_{entry.kind}_{entry.purse}"),
        delta_fen=entry.delta,
        balance_after_fen=entry.balance_after,
        ref=entry.ref,
        created_at=entry.created_at,
    )


def _offer(rule: TopupRule) -> s.TopupOfferOut:
    return s.TopupOfferOut(
        code=rule.code,
        name=rule.name,
        starts_on=rule.starts_on.isoformat() if rule.starts_on else None,
        ends_on=rule.ends_on.isoformat() if rule.ends_on else None,
        tiers=[s.TopupTierOut(min_fen=tier.min_fen, bonus_fen=tier.bonus_fen) for tier in rule.tiers],
    )
