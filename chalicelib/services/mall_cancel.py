"""Cancelling a physical gift's redemption while it is pending (取消兑换): by an operator (out of
stock, an address nobody answers at) or by the member before it ships. A coupon or a partner
code is issued at once and is not cancelled here: it cannot be taken back unseen. A points +
cash gift is cancelled so too, unpaid (its order closed first) or paid (its cash refunded after).

One transaction through the points engine (`points.apply`, kind `mall_refund`, entry
`mall-refund:<redemption id>`: one per redemption, whoever cancels): the points back into the
lots they were taken from by the rule of domain/mall_redemptions.py (a lot past its date:
into one expiring today), the redemption from pending to cancelled (guarded by that status:
once only, never after shipping), the units back in the reward's stock and out of the
member's count. Two cancels at once: one commits; the other finds its refund entry and
answers the same cancellation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain.errors import Busy
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.ledger import MALL_REFUND, EntryNote, PointsChange
from chalicelib.domain.mall_redemptions import Cancellation, Redemption, next_status, plan_refund, refund_no
from chalicelib.domain.members import Member
from chalicelib.domain.points import PointsLot
from chalicelib.services import points
from chalicelib.store import mall_redemptions_repo, mall_repo

MEMBER = "member"  # `cancelled_by` when the member cancels; else the operator's id
EVENT = "mall.redemption_cancelled"


def cancel(redemption: Redemption, by: str, reason: str | None, now: datetime) -> Redemption:
    """A points + cash gift (services/mall_pay.py): unpaid, its WeChat Pay order is closed first
    (409 `mall_paid_meanwhile` if it was paid: a paid gift now); paid, its cash goes back through
    WeChat Pay after the cancel commits — and on a retry of the cancel, whose commit is done."""
    from chalicelib.services import mall_pay

    if next_status(redemption.status, "cancel") is None:  # refuses a shipped one, or a coupon
        mall_pay.refund_cash(redemption)
        return redemption
    mall_pay.close_payment(redemption, now)
    rid = redemption.redemption_id
    op = points.operation(keys.key("mall-refund", rid), {"redemption_id": rid}, now, key_field="redemption_id")
    points.apply(redemption.member_id, op, _planner(redemption, by, reason, op), reads_lots=False)
    found = mall_redemptions_repo.get(redemption.member_id, rid)
    if found is None:
        raise Busy(f"redemption {rid} vanished")
    mall_pay.refund_cash(found)
    return found


def _planner(redemption: Redemption, by: str, reason: str | None, op: points.Operation) -> points.Planner:
    def plan(member: Member, _lots: list[PointsLot]) -> PointsChange | None:
        current = mall_redemptions_repo.get(redemption.member_id, redemption.redemption_id)
        if current is None or next_status(current.status, "cancel") is None:
            return None  # cancelled meanwhile: the engine answers with that refund entry
        refund = plan_refund(current.lots, op.today, member.debt)
        detail = {
            "redemption_id": current.redemption_id,
            "reward_id": current.reward_id,
            "lots": [{"expires_on": day.isoformat(), "points": back} for day, back in sorted(refund.adds.items())],
            "into_today": refund.into_today,
            "debt_repaid": refund.repaid,
        }
        note = EntryNote(reason=current.reward_name, operator=None if by == MEMBER else by, detail=detail)
        change = points.change(
            op,
            member,
            MALL_REFUND,
            current.points,
            new_debt=member.debt - refund.repaid,
            lot_adds=refund.adds,
            note=note,
        )
        data = {"points": current.points, "balance": change.entry.balance_after, "redemption_id": current.redemption_id}
        change.events = (points.entry_event(change.entry, EVENT, data), *_refund_owed(current, op))
        cancellation = Cancellation(iso(op.now), by, reason, op.entry_id, refund.into_today)
        counted = mall_repo.get_count(current.reward_id, current.member_id).period_key

        def stage(tx: Any) -> None:
            mall_redemptions_repo.stage_cancel(tx, current, cancellation)
            mall_repo.stage_give_back(tx, current.reward_id, current.quantity)
            mall_repo.stage_uncount(
                tx, current.reward_id, current.member_id, current.quantity, current.period_key, counted
            )

        change.joins = (stage,)
        return change

    return plan


def _refund_owed(redemption: Redemption, op: points.Operation) -> tuple[DomainEvent, ...]:
    """A paid cash part is owed back from this very transaction on: the task that guarantees it
    (services/pay_refund_task.py); `mall_pay.refund_cash` tries it at once."""
    from chalicelib.services import mall_pay, pay_refund_task

    pay = redemption.pay
    if pay is None or pay.transaction_id is None:
        return ()
    number = refund_no(redemption.redemption_id)
    owed = pay_refund_task.event(f"{op.entry_id}#pay-refund", redemption.member_id, iso(op.now), number,
                                 pay.trade_no, pay.cash_fen, pay.cash_fen, mall_pay.REFUND_REASON)  # fmt: skip
    return (owed,)
