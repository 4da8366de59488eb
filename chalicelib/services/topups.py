"""Top-ups (充值) through WeChat Pay: create the JSAPI order, credit a paid one exactly once,
close an unpaid one when it expires.

Create: the top-up is written first, pending, with its bonus fixed by the rule in force and
its amount counted towards the card's limit (one transaction with the wallet), then ordered
from WeChat Pay (the same out_trade_no on a retry). Credit: the notification (a hint) and the
settle job (WeChat Pay's order query, the truth) both call `settle_paid`; the top-up moves from
pending to paid under a condition in the credit's own transaction, so whichever comes second,
and every resent notification, credits nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.clock import iso, local_date
from chalicelib.domain.errors import AlreadySet, Busy, IdempotencyConflict, WeChatUnavailable
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.ledger import fingerprint
from chalicelib.domain.topups import DEAD_STATES, PAID_STATES, Topup, check_payment, topup_id
from chalicelib.domain.wallet import EntryKind, TopupNotFound, TopupStatus, Wallet, WalletChange, WalletDisabled
from chalicelib.domain.wallet import check_topup as check_limits
from chalicelib.domain.wallet_rules import offer_for
from chalicelib.observability import logger
from chalicelib.services import pay_orders, programme
from chalicelib.services.wallet import commit_with_wallet
from chalicelib.services.wallet_merge import WalletMoved, check_holder, commit_following
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, topups_repo, wallet_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork
from chalicelib.wechat.pay import PayClient, PayRejected, PayUnavailable, get_pay_client

CREDITED, ALREADY, CLOSED, WAITING = "credited", "already", "closed", "waiting"


@dataclass(frozen=True)
class TopupResult:
    topup: Topup
    payment: dict[str, str]  # wx.requestPayment's parameters


def pay_client() -> PayClient:
    client = get_pay_client()
    if client is None:
        raise WalletDisabled("WeChat Pay is not configured", code="wechatpay_not_configured")
    return client


def create(caller: str, amount_fen: int, idempotency_key: str, now: datetime) -> TopupResult:
    """`POST /v1/wallet/topups`: a replay (same key, same amount) is the same order, paid or not."""
    client = pay_client()
    request = {"amount_fen": amount_fen}
    found = topups_repo.get_topup(topup_id(caller, idempotency_key))
    topup = found if found is not None else _new_topup(caller, amount_fen, idempotency_key, now)
    if topup.fingerprint != fingerprint(request):
        raise IdempotencyConflict("Idempotency-Key was used for a different top-up", field="Idempotency-Key")
    if topup.prepay_id is None and topup.status == TopupStatus.PENDING:
        topup = _order(client, topup, now)
    if topup.prepay_id is None or topup.pay_timestamp is None or topup.pay_nonce is None:
        raise AlreadySet("this top-up was closed before it was paid", code="topup_closed")
    return TopupResult(topup, client.payment_params(topup.prepay_id, topup.pay_timestamp, topup.pay_nonce))


def _new_topup(caller: str, amount_fen: int, idempotency_key: str, now: datetime) -> Topup:
    """Written on the live member's wallet: one merged away meanwhile (会员合并) is followed."""
    for _ in range(members_repo.MAX_MERGE_HOPS):
        try:
            return _write_topup(caller, amount_fen, idempotency_key, now)
        except WalletMoved:
            continue  # the caller resolves to the survivor now
    raise Busy(f"wallet of {caller}: merge chain too long")


def _write_topup(caller: str, amount_fen: int, idempotency_key: str, now: datetime) -> Topup:
    member = members_repo.get_live_member(caller)
    if not member.mini_openid:
        raise AlreadySet("top-ups are paid in the mini-program", code="wallet_needs_mini_program")
    version, current = programme.current_with_version()
    rules = current.wallet
    settings = get_settings()
    offer = offer_for(rules, amount_fen, local_date(now, settings.timezone))
    expires = now + timedelta(minutes=settings.wallet_topup_expire_minutes)
    topup = Topup(
        topup_id=topup_id(caller, idempotency_key),
        member_id=member.member_id,
        openid=member.mini_openid,
        amount_fen=amount_fen,
        bonus_fen=offer.bonus_fen,
        rule_code=offer.rule_code,
        programme_version=version,
        status=TopupStatus.PENDING,
        fingerprint=fingerprint({"amount_fen": amount_fen}),
        created_at=iso(now),
        expires_at=iso(expires),
    )

    def stage(tx: UnitOfWork, wallet: Wallet, _attempt: int) -> None:
        check_holder(wallet.member_id, tx=tx)  # not merged away (nor closed) since the wallet was read
        check_limits(rules, offer, wallet.balances, wallet.pending_fen)
        reserve = WalletChange(EntryKind.TOPUP, topup.ref, pending=topup.amount_fen + topup.bonus_fen)
        wallet_repo.stage_change(tx, wallet, reserve, topup.created_at)
        topups_repo.stage_new_topup(tx, topup)

    try:
        commit_with_wallet(member.member_id, stage)
    except TransactionFailed as failure:
        raced = topups_repo.get_topup(topup.topup_id) if failure.failed(topups_repo.TOPUP_TAG) else None
        if raced is None:
            raise
        return raced  # the same request, a moment earlier
    return topup


def _order(client: PayClient, topup: Topup, now: datetime) -> Topup:
    """The WeChat Pay JSAPI order (again, on a retry: WeChat Pay answers the same out_trade_no
    and parameters with the same prepay id)."""
    yuan = f"{topup.amount_fen // 100}.{topup.amount_fen % 100:02d}"
    expires = datetime.fromisoformat(topup.expires_at).astimezone(ZoneInfo(get_settings().timezone))
    try:
        prepay_id = client.jsapi_prepay(topup.topup_id, f"会员储值 ¥{yuan}", topup.amount_fen, topup.openid, expires)
    except (PayUnavailable, PayRejected) as error:
        logger.warning("WeChat Pay prepay failed", extra={"topup_id": topup.topup_id, "error": str(error)})
        raise WeChatUnavailable("WeChat Pay did not take the order; retry with the same key") from None
    return topups_repo.set_prepay(topup, prepay_id, str(int(now.timestamp())), secrets.token_hex(16))


def get(caller: str, topup_id_: str) -> Topup:
    """The caller's own top-up; another member's is not found."""
    return get_held(caller, topup_id_)[0]


def get_held(caller: str, topup_id_: str) -> tuple[Topup, str]:
    """The caller's own top-up and the live member holding its money: a top-up of a member
    merged into the caller (会员合并) is the caller's too (its member_id stays the merged one)."""
    topup = topups_repo.get_topup(topup_id_)
    holder = members_repo.get_live_member(caller).member_id
    if topup is None:
        raise TopupNotFound("no such top-up", field="topup_id")
    if topup.member_id != holder and members_repo.get_live_member(topup.member_id).member_id != holder:
        raise TopupNotFound("no such top-up", field="topup_id")
    return topup, holder


def settle_paid(topup_id_: str, transaction: dict[str, Any], now: datetime, by: str) -> str:
    """Credit principal and the bonus fixed at creation, once: `credited`, or `already`."""
    first = topups_repo.get_topup(topup_id_)
    if first is None:
        raise TopupNotFound("no such top-up", field="out_trade_no")
    client = pay_client()
    transaction_id = check_payment(first, transaction, client.config.mchid, client.config.appid)
    if first.status == TopupStatus.PAID:  # a resent copy: nothing to read further
        return _already(first, transaction_id)
    paid_at = pay_orders.paid_at(transaction.get("success_time"), now)

    def stage(tx: UnitOfWork, wallet: Wallet, attempt: int) -> str:
        topup = _held_by(_as_of(first, wallet, attempt), wallet, tx)
        if topup is None or topup.status == TopupStatus.PAID:
            return ALREADY if topup is None else _already(topup, transaction_id)
        # A top-up closed as unpaid that WeChat Pay says was paid: the money arrived, so it counts.
        released = topup.amount_fen + topup.bonus_fen if topup.status == TopupStatus.PENDING else 0
        detail: dict[str, object] = {"transaction_id": transaction_id, "rule_code": topup.rule_code}
        change = WalletChange(
            EntryKind.TOPUP, topup.ref, topup.amount_fen, topup.bonus_fen, pending=-released, detail=detail
        )
        moved = wallet_repo.stage_change(tx, wallet, change, iso(now))
        topups_repo.stage_paid(tx, topup, transaction_id, paid_at, by)
        data = {"amount_fen": topup.amount_fen, "bonus_fen": topup.bonus_fen, "balance_fen": moved.balances.total}
        tx.stage_event(
            DomainEvent(f"{topup.ref}#wallet.topped_up", "wallet.topped_up", topup.member_id, iso(now), data)
        )
        return CREDITED

    try:
        return commit_following(first.member_id, stage)
    except TransactionFailed as failure:
        if failure.failed(topups_repo.TOPUP_TAG):
            return ALREADY  # paid by the other path between our read and our commit
        raise


def _already(topup: Topup, transaction_id: str) -> str:
    if topup.transaction_id != transaction_id:  # WeChat Pay reports one order paid by two payments
        logger.error("top-up paid twice?", extra={"topup_id": topup.topup_id, "transaction_id": transaction_id})
    return ALREADY


def _as_of(first: Topup, wallet: Wallet, attempt: int) -> Topup | None:
    """The top-up to plan with: the one read before the wallet on the first attempt, unless the
    wallet shows it moved since (no longer counted as pending: settled or closed in between);
    read afresh on a later attempt. The transaction's conditions catch any other move."""
    stale = first.status == TopupStatus.PENDING and wallet.pending_fen < first.amount_fen + first.bonus_fen
    return first if attempt == 0 and not stale else topups_repo.get_topup(first.topup_id)


def _held_by(topup: Topup | None, wallet: Wallet, tx: UnitOfWork) -> Topup | None:
    """The top-up as the wallet read holds it (会员合并). A pending one belongs where its
    reservation is counted: a merge re-points it with the reservation, so one naming another
    member is read again and, still another's, planned there. A closed one reserves nothing: the
    money goes to the wallet's member unless that member was merged away."""
    if topup is not None and topup.status == TopupStatus.PENDING and topup.member_id != wallet.member_id:
        topup = topups_repo.get_topup(topup.topup_id)
        if topup is not None and topup.status == TopupStatus.PENDING and topup.member_id != wallet.member_id:
            raise WalletMoved(topup.member_id)
    if topup is not None and topup.status == TopupStatus.CLOSED:
        check_holder(wallet.member_id, closed_ok=True, tx=tx)
    return topup


def close_unpaid(topup_id_: str, now: datetime) -> str:
    """Give the pending amount back to the card's limit; `closed`, or `already` when it was not pending."""
    first = topups_repo.get_topup(topup_id_)
    if first is None or first.status != TopupStatus.PENDING:
        return ALREADY

    def stage(tx: UnitOfWork, wallet: Wallet, attempt: int) -> str:
        topup = _as_of(first, wallet, attempt)
        if topup is None or topup.status != TopupStatus.PENDING:
            return ALREADY
        topup = _held_by(topup, wallet, tx)
        if topup is None or topup.status != TopupStatus.PENDING:
            return ALREADY
        release = WalletChange(EntryKind.TOPUP, topup.ref, pending=-(topup.amount_fen + topup.bonus_fen))
        wallet_repo.stage_change(tx, wallet, release, iso(now))
        topups_repo.stage_closed(tx, topup, iso(now))
        return CLOSED

    try:
        return commit_following(first.member_id, stage)
    except TransactionFailed as failure:
        if failure.failed(topups_repo.TOPUP_TAG):
            return ALREADY
        raise


def check_with_wechat(topup_id_: str, now: datetime) -> str:
    """The settle job, for one pending top-up: WeChat Pay's order decides. Paid → credited;
    never ordered, or failed, once expired → closed; unpaid once expired → closed at WeChat Pay
    first (asked again afterwards: a payment may have slipped in)."""
    topup = topups_repo.get_topup(topup_id_)
    if topup is None or topup.status != TopupStatus.PENDING:
        return ALREADY
    client = pay_client()
    order = client.query_order(topup_id_)
    state = str((order or {}).get("trade_state") or "")
    if order is not None and state in PAID_STATES:
        return settle_paid(topup_id_, order, now, "query")
    expired = now >= datetime.fromisoformat(topup.expires_at)
    if order is not None and state not in DEAD_STATES:
        if not expired or state == "USERPAYING":
            return WAITING
        client.close_order(topup_id_)
        order = client.query_order(topup_id_)
        if order is not None and str(order.get("trade_state")) in PAID_STATES:
            return settle_paid(topup_id_, order, now, "query")
    elif order is None and not expired:
        return WAITING  # the member's retry may still place the order
    return close_unpaid(topup_id_, now)
