"""Refund of a top-up (储值退款) through WeChat Pay `/v3/refund/domestic/refunds`.

Only unspent principal is refundable, and the bonus that came with it goes back in proportion
(domain/wallet.py `quote_refund`); the member sees the quote first and confirms its cash
amount. The request takes the amounts from the wallet, records the refund and the top-up's
tallies in one transaction, then asks WeChat Pay (the same out_refund_no on every retry: the
settle job resubmits one WeChat Pay did not take). WeChat Pay's answer or notification moves
its status: SUCCESS and CLOSED are final, ABNORMAL is not (the money could not reach the member,
WeChat Pay's merchant platform takes it from there); CLOSED gives the amounts back to the wallet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain.errors import Busy, IdempotencyConflict
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.ledger import fingerprint
from chalicelib.domain.topups import Topup, WalletRefund, refund_id, refund_state
from chalicelib.domain.wallet import (
    EntryKind,
    RefundQuote,
    RefundRefused,
    RefundStatus,
    Wallet,
    WalletChange,
    after_refund,
    check_refundable,
    quote_refund,
)
from chalicelib.observability import logger
from chalicelib.services import topups
from chalicelib.services.wallet_merge import check_holder, commit_following
from chalicelib.settings import get_settings
from chalicelib.store import topups_repo, wallet_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork
from chalicelib.wechat.pay import PayRejected, PayUnavailable

# WeChat Pay's refund errors worth asking again later (its balance, its rate limit); any other
# 4xx is final: the refund is closed and its amounts go back.
RETRY_LATER = frozenset({"NOT_ENOUGH", "FREQUENCY_LIMITED", "SYSTEM_ERROR"})


def quote(caller: str, topup_id: str, principal_fen: int | None, now: datetime) -> tuple[Topup, RefundQuote]:
    """Against the wallet holding the top-up's money: after a merge (会员合并), the survivor's."""
    topup, holder = topups.get_held(caller, topup_id)
    check_refundable(topup.status, topup.paid_at, now)
    return topup, quote_refund(topup.refunds, wallet_repo.get_wallet(holder).balances, principal_fen)


def request(
    caller: str, topup_id: str, principal_fen: int | None, cash_fen: int, idempotency_key: str, now: datetime
) -> WalletRefund:
    """`cash_fen` is the quote's: when balances moved since, the refund is refused
    (`refund_quote_changed`) and the member asks for a new quote."""
    first = topups.get(caller, topup_id)
    rid = refund_id(first.member_id, topup_id, idempotency_key)
    asked = fingerprint({"topup_id": topup_id, "principal_fen": principal_fen, "cash_fen": cash_fen})
    existing = topups_repo.get_refund(rid)
    if existing is None:
        existing = _take(first, rid, principal_fen, cash_fen, asked, now)
    if existing.fingerprint != asked:
        raise IdempotencyConflict("Idempotency-Key was used for a different refund", field="Idempotency-Key")
    return submit(existing, now) if existing.status == RefundStatus.REQUESTED else existing


def _take(first: Topup, rid: str, principal_fen: int | None, cash_fen: int, asked: str, now: datetime) -> WalletRefund:
    at = iso(now)

    def stage(tx: UnitOfWork, wallet: Wallet, attempt: int) -> WalletRefund:
        check_holder(wallet.member_id, tx=tx)  # a merge moved the money since the read: taken from the survivor's
        topup = first if attempt == 0 else topups.get(wallet.member_id, first.topup_id)  # re-read
        check_refundable(topup.status, topup.paid_at, now)
        quoted = quote_refund(topup.refunds, wallet.balances, principal_fen)
        if quoted.cash_fen != cash_fen:
            raise RefundRefused(
                f"the refund is now {quoted.cash_fen} fen", field="cash_fen", code="refund_quote_changed"
            )
        refund = WalletRefund(  # the member whose wallet it leaves: a CLOSED refund returns there
            rid, topup.topup_id, wallet.member_id, quoted.principal_fen, quoted.bonus_due_fen, quoted.bonus_taken_fen,
            quoted.cash_fen, RefundStatus.REQUESTED, asked, at, at,
        )  # fmt: skip
        detail: dict[str, object] = {"topup_id": topup.topup_id, "cash_fen": quoted.cash_fen,
                                     "deducted_fen": quoted.deducted_fen}  # fmt: skip
        change = WalletChange(
            EntryKind.REFUND, refund.ref, -quoted.principal_fen, -quoted.bonus_taken_fen, detail=detail
        )
        wallet_repo.stage_change(tx, wallet, change, at)
        topups_repo.stage_refund_tallies(tx, topup, topup.refunds, after_refund(topup.refunds, quoted))
        topups_repo.stage_new_refund(tx, refund)
        return refund

    try:  # another refund of this top-up moving its tallies: planned again
        return commit_following(first.member_id, stage, also_retry=(topups_repo.TOPUP_TAG,))
    except TransactionFailed as failure:
        raced = topups_repo.get_refund(rid) if failure.failed(topups_repo.REFUND_TAG) else None
        if raced is None:
            raise
        return raced  # the same request, a moment earlier


def submit(refund: WalletRefund, now: datetime) -> WalletRefund:
    """Ask WeChat Pay for the money (again: out_refund_no makes a resubmission the same refund)."""
    topup = topups_repo.get_topup(refund.topup_id)
    if topup is None:
        raise ValueError(f"refund {refund.refund_id} of an unknown top-up")
    try:
        answer = topups.pay_client().refund(refund.refund_id, topup.topup_id, refund.cash_fen, topup.amount_fen)
    except PayUnavailable as error:
        logger.warning("WeChat Pay refund not submitted", extra={"refund_id": refund.refund_id, "error": str(error)})
        return refund
    except PayRejected as rejected:
        if rejected.code in RETRY_LATER:
            logger.warning("WeChat Pay refund deferred", extra={"refund_id": refund.refund_id, "code": rejected.code})
            return refund
        logger.error("WeChat Pay refused the refund", extra={"refund_id": refund.refund_id, "code": rejected.code})
        answer = {"status": "CLOSED", "out_refund_no": refund.refund_id}
    return apply_answer(refund.refund_id, answer, now)


def apply_answer(rid: str, answer: dict[str, Any], now: datetime) -> WalletRefund:
    """WeChat Pay's word on a refund (its answer, a query, a notification): the status moves
    once per step; CLOSED gives the amounts back to the wallet and the top-up, in one transaction."""
    for _ in range(get_settings().tx_max_attempts):
        refund = topups_repo.get_refund(rid)
        if refund is None:
            raise RefundRefused("no such refund", code="refund_not_found")
        status = refund_state(answer)
        if status is None or refund.status.final or status == refund.status or not _matches(refund, answer):
            return refund
        try:
            return _move(refund, status, answer.get("refund_id"), now)
        except TransactionFailed as failure:
            if not (failure.failed(topups_repo.REFUND_TAG) or failure.failed(topups_repo.TOPUP_TAG)):
                raise
    raise Busy(f"refund {rid} kept moving")


def _matches(refund: WalletRefund, answer: dict[str, Any]) -> bool:
    amount = answer.get("amount")
    refunded = amount.get("refund") if isinstance(amount, dict) else None
    same = answer.get("out_refund_no") == refund.refund_id and refunded in (None, refund.cash_fen)
    if not same:
        logger.error("WeChat Pay refund answer does not match", extra={"refund_id": refund.refund_id})
    return same


def _move(refund: WalletRefund, status: RefundStatus, wechat_refund_id: Any, now: datetime) -> WalletRefund:
    at, wx_id = iso(now), str(wechat_refund_id) if wechat_refund_id else None
    if status != RefundStatus.CLOSED:
        tx = UnitOfWork(get_settings().region)
        topups_repo.stage_refund_status(tx, refund, status, at, wx_id)
        if status == RefundStatus.SUCCESS:
            data = {"cash_fen": refund.cash_fen, "topup_id": refund.topup_id}
            tx.stage_event(DomainEvent(f"{refund.ref}#wallet.refunded", "wallet.refunded", refund.member_id, at, data))
        tx.commit()
        return WalletRefund(**{**refund.__dict__, "status": status, "updated_at": at})

    def stage(tx: UnitOfWork, wallet: Wallet, attempt: int) -> WalletRefund:
        check_holder(wallet.member_id, closed_ok=True, tx=tx)  # merged since it was taken: back to the survivor
        topup = topups_repo.get_topup(refund.topup_id)
        if topup is None:
            raise ValueError(f"refund {refund.refund_id} of an unknown top-up")
        back = WalletChange(EntryKind.REFUND_RETURN, refund.ref, refund.principal_fen, refund.bonus_taken_fen)
        wallet_repo.stage_change(tx, wallet, back, at)
        topups_repo.stage_refund_tallies(tx, topup, topup.refunds, after_refund(topup.refunds, refund.quote, -1))
        topups_repo.stage_refund_status(tx, refund, status, at, wx_id)
        return WalletRefund(**{**refund.__dict__, "status": status, "updated_at": at})

    return commit_following(refund.member_id, stage)


def follow_up(rid: str, now: datetime) -> str:
    """The settle job, for one open refund: submitted again, or asked about."""
    refund = topups_repo.get_refund(rid)
    if refund is None or refund.status.final:
        return "already"
    if refund.status == RefundStatus.REQUESTED:
        return str(submit(refund, now).status)
    answer = topups.pay_client().query_refund(rid)
    return str(apply_answer(rid, answer, now).status) if answer is not None else str(refund.status)
