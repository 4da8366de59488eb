"""Cancelling a physical gift's redemption while it is pending (取消兑换): by an operator (out of
stock, an address nobody answers at) or by the member before it ships. A coupon or a partner
code is issued at once and is not cancelled here: it cannot be taken back unseen.

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
from chalicelib.domain.ledger import MALL_REFUND, EntryNote, PointsChange
from chalicelib.domain.mall_redemptions import Cancellation, Redemption, next_status, plan_refund
from chalicelib.domain.members import Member
from chalicelib.domain.points import PointsLot
from chalicelib.services import points
from chalicelib.store import mall_redemptions_repo, mall_repo

MEMBER = "member"  # `cancelled_by` when the member cancels; else the operator's id
EVENT = "mall.redemption_cancelled"


def cancel(redemption: Redemption, by: str, reason: str | None, now: datetime) -> Redemption:
    if next_status(redemption.status, "cancel") is None:  # refuses a shipped one, or a coupon
        return redemption
    rid = redemption.redemption_id
    op = points.operation(keys.key("mall-refund", rid), {"redemption_id": rid}, now, key_field="redemption_id")
    points.apply(redemption.member_id, op, _planner(redemption, by, reason, op), reads_lots=False)
    found = mall_redemptions_repo.get(redemption.member_id, rid)
    if found is None:
        raise Busy(f"redemption {rid} vanished")
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
        change.events = (points.entry_event(change.entry, EVENT, data),)
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
