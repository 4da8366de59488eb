"""The settle-topups job (every 2 minutes): WeChat Pay's notification is a hint, its order query
the truth. Top-ups still pending WALLET_SETTLE_AFTER_MINUTES after they were made are asked
about: paid → credited (once, whichever of this and the notification comes first), unpaid and
expired → closed. Refunds WeChat Pay has not finished are submitted again or asked about.
Checkouts held for their WeChat Pay part are settled the same way, or cancelled when the hold ends;
so are points mall gifts awaiting their cash part (services/mall_pay.py).

It reads the two sparse "open" indexes only: its cost follows the open top-ups and refunds,
never the tables. A failure on one item is logged and counted; the next run takes it again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from chalicelib.clock import iso
from chalicelib.domain.errors import DomainError
from chalicelib.domain.topups import PaymentMismatch
from chalicelib.observability import logger
from chalicelib.services import checkout_pay, topups, wallet_refunds
from chalicelib.settings import get_settings
from chalicelib.store import checkout_repo, topups_repo
from chalicelib.wechat.pay import PayRejected, PayUnavailable, get_pay_client

_SKIPPED = (PayUnavailable, PayRejected, PaymentMismatch, DomainError)


def run(now: datetime) -> dict[str, int]:
    if get_pay_client() is None:
        return {"not_configured": 1}
    cutoff = iso(now - timedelta(minutes=get_settings().wallet_settle_after_minutes))
    counts: Counter[str] = Counter()
    for topup_id in list(topups_repo.due_topups(cutoff)):
        counts[f"topup_{_one(topups.check_with_wechat, topup_id, now)}"] += 1
    for refund_id in list(topups_repo.due_refunds(cutoff)):
        counts[f"refund_{_one(wallet_refunds.follow_up, refund_id, now)}"] += 1
    # Checkouts held for their WeChat Pay part, as old as those top-ups: settled when paid,
    # cancelled once the hold ends.
    settings = get_settings()
    held_before = now + timedelta(minutes=settings.checkout_hold_minutes - settings.wallet_settle_after_minutes)
    for order_id in list(checkout_repo.due_held(iso(held_before))):
        counts[f"checkout_{_one(checkout_pay.follow_up, order_id, now)}"] += 1
    # Points + cash gifts awaiting their WeChat Pay part (the same hold): settled when paid,
    # closed and cancelled (points, stock and count back) once their deadline passes.
    from chalicelib.services import mall_pay
    from chalicelib.store import mall_redemptions_repo

    for redemption_id in list(mall_redemptions_repo.due_unpaid(iso(held_before))):
        counts[f"mall_{_one(mall_pay.follow_up, redemption_id, now)}"] += 1
    return dict(counts)


def _one(step: Callable[[str, datetime], str], item_id: str, now: datetime) -> str:
    try:
        return step(item_id, now)
    except _SKIPPED as error:
        logger.warning("settle-topups: left for the next run", extra={"item": item_id, "error": str(error)})
        return "failed"
