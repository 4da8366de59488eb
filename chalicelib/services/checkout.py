"""Checkout for POS and mall servers (收银结算): quote, confirm, cancel.

A quote reads the member, their coupons and wallet, and plans (domain/checkout.py); it writes
nothing. A confirm plans the same way inside ONE transaction of the points engine (entry
`checkout:<order_id>`, kind `checkout`, the points taken from the lots earliest expiry first),
joined on every attempt by the coupons' use (each only while usable), the wallet's debit (at the
version read) and the checkout item (put if new): all of it or nothing. Anything that moved
meanwhile (the member, a lot, the wallet, a coupon) fails the transaction and the engine plans
again from what is there now; a coupon used elsewhere meanwhile is 409 naming it.

Idempotent by order_id: the same request again answers the first checkout; another request
under the same order id is 409. With a WeChat Pay part (`pay_with: wechat_pay`) the checkout is
held until that payment is notified (services/checkout_pay.py) or its hold ends; a cancel
(services/checkout_cancel.py) gives back exactly what was taken, once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import count
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain import coupon_codes, keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.checkout import (
    MAX_COUPONS,
    Ask,
    Checkout,
    CheckoutLine,
    CheckoutNotFound,
    CheckoutRefused,
    CheckoutStatus,
    Deduction,
    LinePlan,
    PayWith,
    Plan,
    TakenPoints,
    apply_coupons,
    apply_points,
    apply_wallet,
    best_coupon,
    check_lines,
    points_max,
    tier_discounts,
    wallet_usable,
)
from chalicelib.domain.coupon_use import check_usable, pos_actor
from chalicelib.domain.coupons import Channel, Coupon, CouponNotFound, applies_at
from chalicelib.domain.earning import OrderLine
from chalicelib.domain.errors import Busy, Forbidden, IdempotencyConflict, InsufficientPoints, InvalidInput
from chalicelib.domain.ledger import TX_MAX_ITEMS, EntryNote, PointsChange
from chalicelib.domain.members import Member
from chalicelib.domain.points import PointsLot, plan_consumption
from chalicelib.domain.programme import Programme
from chalicelib.domain.wallet import InsufficientBalance, Split, Wallet, plan_spend
from chalicelib.services import coupon_redemption, points, programme
from chalicelib.services.orders import MemberRef, resolve_member
from chalicelib.settings import get_settings
from chalicelib.store import checkout_repo, coupons_repo, members_repo, points_repo, wallet_repo

_FIXED_ITEMS = 7  # the member, the entry, the wallet and its two lines, the checkout, a member card's sync


@dataclass(frozen=True)
class Basket:
    """What the POS sends, for a quote and its confirm alike."""

    order_id: str
    member: MemberRef
    store_id: str | None
    channel: Channel
    ask: Ask
    pay_with: PayWith = PayWith.COUNTER

    def request(self, pos_client: str) -> dict[str, Any]:
        """What the confirm's fingerprint covers: a replay must ask for exactly this."""
        ask = self.ask
        return {
            "pos_client": pos_client,
            "order_id": self.order_id,
            "member": self.member.__dict__,
            "store_id": self.store_id,
            "channel": str(self.channel),
            "lines": [line.__dict__ for line in ask.lines],
            "amount_fen": ask.amount_fen,
            "coupon_codes": None if ask.coupon_codes is None else list(ask.coupon_codes),
            "points": ask.points,
            "wallet_fen": ask.wallet_fen,
            "pay_with": str(self.pay_with),
        }


@dataclass(frozen=True)
class Quote:
    member_id: str
    plan: Plan
    points_balance: int
    wallet_balance_fen: int
    points_step: int


def quote(basket: Basket, pos_client: str, now: datetime) -> Quote:
    check_lines(basket.ask.amount_fen, basket.ask.lines)
    member = members_repo.get_live_member(resolve_member(basket.member))
    rules = programme.current()
    wallet = wallet_repo.get_wallet(member.member_id)
    coupons = _coupons(basket, member.member_id, now)
    plan = _plan(basket, member, wallet, coupons, rules)
    step, _ = _deduction(rules).step
    return Quote(member.member_id, plan, member.balance, wallet.balances.total, step)


def confirm(basket: Basket, expected_cash_fen: int | None, pos_client: str, now: datetime) -> Checkout:
    """The checkout, made now or by an earlier call with this very request. A held one whose
    WeChat Pay order could not be placed is placed on the retry."""
    check_lines(basket.ask.amount_fen, basket.ask.lines)
    if basket.member.phone and (basket.ask.points or basket.ask.wallet_fen):
        # A phone number is typed, not shown: spending needs the member present (their code).
        raise InvalidInput("points and stored value are spent with the member's code, not a phone number",
                           field="member", code="checkout_needs_member_code")  # fmt: skip
    request = basket.request(pos_client)
    op = points.operation(keys.key("checkout", basket.order_id), request, now, key_field="order_id")
    made = checkout_repo.get(basket.order_id)
    if made is not None:
        made = _replayed(made, op)
    else:
        if points_repo.get_entry(keys.order_entry(basket.order_id)) is not None:
            raise CheckoutRefused("the order was reported without a checkout", field="order_id", code="order_recorded")
        member_id = resolve_member(basket.member)
        rules = programme.current()
        points.apply(member_id, op, _planner(basket, expected_cash_fen, pos_client, rules, op), reads_lots=True)
        made = checkout_repo.get(basket.order_id)
        if made is None:
            raise Busy(f"checkout {basket.order_id} is in the ledger but not found")
        made = _replayed(made, op)
    if made.status == CheckoutStatus.HELD and made.prepay_id is None:
        from chalicelib.services import checkout_pay

        made = checkout_pay.order_payment(made, now)
    return made


def get(order_id: str, pos_client: str) -> Checkout:
    """The POS client's own checkout; another client's is 403, an unknown one 404."""
    found = checkout_repo.get(order_id)
    if found is None:
        raise CheckoutNotFound("no checkout for this order", field="order_id")
    if found.pos_client != pos_client:
        raise Forbidden("the checkout was made by another POS client", field="order_id")
    return found


def cash_lines(
    order_id: str, member_id: str, amount_fen: int, lines: tuple[OrderLine, ...], pos_client: str
) -> tuple[tuple[OrderLine, ...], Checkout | None]:
    """`POST /v1/orders` of a checked-out order earns on its cash part only: the checkout's lines
    at their cash part, after checking the report against the checkout (the same client and
    member, the cash part as the amount, paid, not refunded yet); ((), None) without checkout."""
    found = checkout_repo.get(order_id)
    if found is None:
        return (), None
    _check_reportable(found, pos_client)
    if members_repo.get_live_member(member_id).member_id != members_repo.get_live_member(found.member_id).member_id:
        raise InvalidInput("the checkout was for another member", field="member")
    if amount_fen != found.cash_fen:
        raise InvalidInput(f"the order's cash part is {found.cash_fen} fen (its checkout)", field="amount_fen")
    cash = tuple(OrderLine(line.line_id, line.sku or None, line.category, line.cash_fen) for line in found.lines)
    if lines and [(line.line_id, line.amount_fen) for line in lines] != [(c.line_id, c.amount_fen) for c in cash]:
        raise InvalidInput("the lines must be the checkout's, at their cash part", field="lines")
    return cash, found


def _check_reportable(found: Checkout, pos_client: str) -> None:
    if found.pos_client != pos_client:
        raise Forbidden("the order was checked out by another POS client", field="order_id")
    if found.status not in (CheckoutStatus.COMPLETED, CheckoutStatus.PAID):
        raise CheckoutRefused(f"the checkout is {found.status}", field="order_id", code="checkout_not_paid")
    if found.refunds:
        raise CheckoutRefused("report the order before refunding it", field="order_id", code="checkout_refunded")


def reported_with(found: Checkout, decorate: points.Decorator) -> points.Decorator:
    """The order's earning marks its checkout reported in the same transaction, guarded by the
    checkout's version: a cancel or refund committing meanwhile fails it, and the engine plans
    again from the checkout as it is then (refused, if it was cancelled or refunded)."""
    attempts = count()

    def mark(member: Member, change: PointsChange) -> PointsChange:
        fresh = found if next(attempts) == 0 else checkout_repo.get(found.order_id) or found
        _check_reportable(fresh, fresh.pos_client)
        after = replace(fresh, reported=True, version=fresh.version + 1)
        change = decorate(member, change)
        change.joins = (*change.joins, lambda tx: checkout_repo.stage_update(tx, fresh, after))
        return change

    return mark


def _replayed(found: Checkout, op: points.Operation) -> Checkout:
    if found.fingerprint != op.fingerprint:
        raise IdempotencyConflict("order_id was used for a different checkout", field="order_id")
    return found


def _deduction(rules: Programme) -> Deduction:
    policy = rules.points.deduction
    return Deduction(policy.enabled, policy.points_per_yuan, policy.max_share_percent, policy.min_balance)


def _coupons(basket: Basket, member_id: str, now: datetime) -> list[Coupon]:
    """The coupons asked for by code (each the member's own and usable here, now), or, when
    none is named, every coupon the member may use here now (the plan takes the best)."""
    codes = basket.ask.coupon_codes
    if codes is None:
        held = coupons_repo.member_coupons(member_id)
        return [c for c in held if c.usable_at(now) and applies_at(c.terms, basket.channel, basket.store_id)]
    if len(codes) > MAX_COUPONS or len(set(codes)) != len(codes):
        raise InvalidInput(f"at most {MAX_COUPONS} different coupons", field="coupon_codes")
    chosen = []
    for code in codes:
        coupon = coupons_repo.find_by_code(coupon_codes.normalise(code, field="coupon_codes"))
        if coupon is None or coupon.member_id != member_id:
            raise CouponNotFound("the member holds no coupon with this code", field="coupon_codes")
        check_usable(coupon, basket.channel, basket.store_id, now, field="coupon_codes")
        chosen.append(coupon)
    return chosen


def _plan(basket: Basket, member: Member, wallet: Wallet, held: list[Coupon], rules: Programme) -> Plan:
    ask = basket.ask
    tier = rules.tier(member.tier_code)
    lines = tier_discounts(ask.lines, tier.benefits.discount_rate if tier else 100)
    if ask.coupon_codes is None:
        lines, used = best_coupon(lines, ask.lines, held)
    else:
        lines, used = apply_coupons(lines, ask.lines, held)
    chosen = [coupon for coupon in held if coupon.coupon_id in {u.coupon_id for u in used}]
    deduction = _deduction(rules)
    if ask.points > member.balance:  # not a bad request: the balance moved since the quote (409)
        raise InsufficientPoints(f"the member holds {member.balance} points", field="points")
    if ask.wallet_fen > wallet.balances.total:
        raise InsufficientBalance(f"the wallet holds {wallet.balances.total} fen", field="wallet_fen")
    most = points_max(lines, deduction, member.balance, chosen)
    lines = apply_points(lines, ask.points, most, deduction)
    usable = wallet_usable(lines, wallet.balances.total) if rules.wallet.enabled else 0
    lines = apply_wallet(lines, ask.wallet_fen, usable)
    return Plan(tuple(lines), used, most, usable)


def _planner(
    basket: Basket,
    expected_cash_fen: int | None,
    pos_client: str,
    rules: Programme,
    op: points.Operation,
) -> points.Planner:
    """Plans the whole checkout on every attempt of the engine, from the member and lots it
    read and the coupons and wallet read afresh."""

    def plan(member: Member, lots: list[PointsLot]) -> PointsChange:
        wallet = wallet_repo.get_wallet(member.member_id)
        held = _coupons(basket, member.member_id, op.now)
        checkout_plan = _plan(basket, member, wallet, held, rules)
        if expected_cash_fen is not None and checkout_plan.cash_fen != expected_cash_fen:
            raise CheckoutRefused(
                f"the quote changed: payable {checkout_plan.cash_fen} fen now",
                field="expected_cash_fen",
                code="checkout_quote_changed",
            )
        used_points = checkout_plan.total("points")
        takes = plan_consumption(lots, used_points, op.today) if used_points else []
        split = _split(wallet, checkout_plan.total("wallet_fen"), rules)
        record = _record(basket, member, checkout_plan, takes, split, pos_client, op)
        note = EntryNote(
            reason="checkout",
            source=basket.store_id,
            detail={"order_id": basket.order_id, "deduction_fen": checkout_plan.total("points_fen")},
        )
        change = points.change(op, member, kinds.CHECKOUT, -used_points, lot_takes=takes, note=note)
        used = [coupon for coupon in held if coupon.coupon_id in {c.coupon_id for c in checkout_plan.coupons}]
        _require_fits(change, len(used))

        def stage(tx: Any) -> None:
            for coupon in used:
                coupon_redemption.stage_use(
                    tx, coupon, basket.order_id, basket.store_id, basket.channel, op.now, used_by=pos_actor(pos_client)
                )
            if split.total:
                ref = f"order:{basket.order_id}"
                wallet_repo.stage_debit(tx, wallet, split, ref, iso(op.now), detail={"order_id": basket.order_id})
            checkout_repo.stage_new(tx, record)

        change.joins = (stage,)
        return change

    return plan


def _split(wallet: Wallet, amount: int, rules: Programme) -> Split:
    return plan_spend(wallet.balances, amount, rules.wallet.spend_order) if amount else Split(0, 0)


def _record(
    basket: Basket,
    member: Member,
    plan: Plan,
    takes: list[Any],
    split: Split,
    pos_client: str,
    op: points.Operation,
) -> Checkout:
    cash = plan.cash_fen
    held = basket.pay_with == PayWith.WECHAT_PAY and cash > 0
    settings = get_settings()
    expires = op.now + timedelta(minutes=settings.checkout_hold_minutes) if held else None
    if held and not member.mini_openid:
        raise CheckoutRefused(
            "the member pays in the mini-program", field="pay_with", code="checkout_needs_mini_program"
        )
    return Checkout(
        order_id=basket.order_id,
        member_id=member.member_id,
        pos_client=pos_client,
        store_id=basket.store_id,
        channel=str(basket.channel),
        status=CheckoutStatus.HELD if held else CheckoutStatus.COMPLETED,
        pay_with=basket.pay_with,
        amount_fen=basket.ask.amount_fen,
        lines=plan.lines,
        coupons=plan.coupons,
        lots=tuple(TakenPoints(take.expires_on.isoformat(), take.taken) for take in takes),
        wallet_principal=split.principal,
        wallet_bonus=split.bonus,
        fingerprint=op.fingerprint,
        created_at=iso(op.now),
        expires_at=iso(expires) if expires else None,
        trade_no=trade_no(basket.order_id) if held else None,
        openid=member.mini_openid if held else None,
    )


def trade_no(order_id: str) -> str:
    """`wc` + 24 hex: the WeChat Pay part's out_trade_no (6-32 letters and digits), from the order."""
    import hashlib

    return "wc" + hashlib.sha256(keys.key("checkout-pay", order_id).encode()).hexdigest()[:24]


def _require_fits(change: PointsChange, coupons: int) -> None:
    """Points scattered over more lots than fit one transaction are refused, not half written."""
    items = _FIXED_ITEMS + 2 * coupons + len(change.lot_takes) + len(change.events)
    if items > TX_MAX_ITEMS:
        raise CheckoutRefused(
            f"{len(change.lot_takes)} lots to take from", field="points", code="checkout_too_many_lots"
        )


__all__ = ["Basket", "CheckoutLine", "LinePlan", "Quote", "confirm", "get", "quote"]
