"""Cancelling a checkout not yet paid (`POST /v1/checkout/{order_id}/cancel`, and the settle job
when a hold ends unpaid): exactly what it took goes back, once, in one transaction of the points
engine (entry `checkout-cancel:<order>`): the points into the lots they came from (a lot past its
date: into one ending today), the coupons whatever the return policy (the use never happened), the
wallet to the purses it came from, and the checkout to cancelled, guarded by its version. A paid,
reported or refunded checkout is refunded instead (409)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.checkout import Checkout, CheckoutRefused, CheckoutStatus
from chalicelib.domain.coupon_use import ReturnPolicy
from chalicelib.domain.coupons import Coupon, CouponStatus
from chalicelib.domain.errors import Busy
from chalicelib.domain.ledger import EntryNote, PointsChange
from chalicelib.domain.mall_redemptions import TakenLot, plan_refund
from chalicelib.domain.members import Member
from chalicelib.domain.points import PointsLot
from chalicelib.domain.wallet import Split
from chalicelib.services import coupon_redemption, points
from chalicelib.services.checkout import get
from chalicelib.store import checkout_repo, coupons_repo, wallet_repo


def cancel(order_id: str, pos_client: str, now: datetime, *, by: str = "pos") -> Checkout:
    """Gives back exactly what was taken (points into their lots, the coupons, the wallet), once;
    a checkout already cancelled answers as it is. A paid one is refunded instead (409)."""
    current = get(order_id, pos_client)
    if current.status == CheckoutStatus.CANCELLED:
        return current
    if current.status == CheckoutStatus.HELD and current.prepay_id:
        from chalicelib.services import checkout_pay

        checkout_pay.close_payment(current, now)  # refused (409) when the member has paid it meanwhile
    op = points.operation(keys.key("checkout-cancel", order_id), {"order_id": order_id}, now, key_field="order_id")
    points.apply(current.member_id, op, _canceller(current, by, op), reads_lots=False)
    return get(order_id, pos_client)


def _canceller(current: Checkout, by: str, op: points.Operation) -> points.Planner:
    def plan(member: Member, _lots: list[PointsLot]) -> PointsChange | None:
        fresh = checkout_repo.get(current.order_id)
        if fresh is None or fresh.status == CheckoutStatus.CANCELLED:
            return None  # cancelled meanwhile: the engine answers with that entry
        if fresh.status == CheckoutStatus.PAID or fresh.refunds or fresh.reported:
            raise CheckoutRefused("a paid, reported or refunded checkout is refunded, not cancelled",
                                  field="order_id", code="checkout_paid")  # fmt: skip
        back = tuple(TakenLot(_day(lot.expires_on), lot.points - lot.returned) for lot in fresh.lots)
        refund = plan_refund(back, op.today, member.debt)
        returned = sum(lot.points for lot in back)
        note = EntryNote(reason="checkout_cancel", operator=None if by == "pos" else by,
                         detail={"order_id": fresh.order_id, "into_today": refund.into_today})  # fmt: skip
        change = points.change(
            op, member, kinds.CHECKOUT_CANCEL, returned, new_debt=member.debt - refund.repaid, lot_adds=refund.adds,
            note=note,
        )  # fmt: skip
        wallet = wallet_repo.get_wallet(member.member_id)
        found = [coupons_repo.get(member.member_id, c.coupon_id) or _gone(c.coupon_id) for c in fresh.coupons]
        # Those still used on this order: one given back meanwhile (a racing cancel, whose commit
        # then fails this one on the checkout's version; a POS's return) is not given back twice.
        coupons = [c for c in found if (c.status, c.order_id) == (CouponStatus.USED, fresh.order_id)]
        after = replace(
            fresh,
            status=CheckoutStatus.CANCELLED,
            cancelled_at=iso(op.now),
            version=fresh.version + 1,
            lots=tuple(replace(lot, returned=lot.points) for lot in fresh.lots),
            wallet_returned_principal=fresh.wallet_principal,
            wallet_returned_bonus=fresh.wallet_bonus,
        )

        def stage(tx: Any) -> None:
            for coupon in coupons:  # never used, as far as the member is concerned: back whatever the policy
                coupon_redemption.stage_return(tx, coupon, fresh.order_id, op.now, ReturnPolicy.ALWAYS)
            split = Split(fresh.wallet_principal - fresh.wallet_returned_principal,
                          fresh.wallet_bonus - fresh.wallet_returned_bonus)  # fmt: skip
            if split.total:
                ref = f"order:{fresh.order_id}"
                wallet_repo.stage_return(tx, wallet, split, ref, iso(op.now), detail={"order_id": fresh.order_id})
            checkout_repo.stage_update(tx, fresh, after)

        change.joins = (stage,)
        return change

    return plan


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _gone(coupon_id: str) -> Coupon:
    raise Busy(f"coupon {coupon_id} of a checkout is gone")
