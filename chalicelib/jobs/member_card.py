"""The nightly member card reconciliation (会员卡对账, 03:30 Shanghai): for the cards whose member
changed or was synced yesterday or today (business dates), WeChat's bonus and balance are read
back (`userinfo/get`) and, where they differ from ours, ours are pushed again.

A sync can be lost (a task dead-lettered, a transaction full, a card edited on WeChat's side);
this catches it within a day. It reads the sparse `changed-day` index only (store/models/
member_card.py), so it costs in proportion to the cards that changed, never the table. Safe to
run again: a card that matches is only read; one that was corrected matches the next time.
Counts: checked, matched, corrected, failed (left for the next run, or an operator's re-sync).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from chalicelib.clock import local_date
from chalicelib.observability import logger
from chalicelib.services import member_card_ops
from chalicelib.settings import get_settings
from chalicelib.store import member_card_repo

COUNTS = ("checked", "matched", "corrected", "failed")


def run(now: datetime) -> dict[str, int]:
    today = local_date(now, get_settings().timezone)
    member_ids = dict.fromkeys(
        [*member_card_repo.changed_on(today - timedelta(days=1)), *member_card_repo.changed_on(today)]
    )
    counts: Counter[str] = Counter(dict.fromkeys(COUNTS, 0))
    for member_id in member_ids:
        outcome = _one(member_id, now)
        if outcome is not None:
            counts["checked"] += 1
            counts[outcome] += 1
    return dict(counts)


def _one(member_id: str, now: datetime) -> str | None:
    """matched / corrected / failed; None for a card no longer synced (deleted, superseded)."""
    try:
        return member_card_ops.reconcile(member_id, now)
    except Exception as error:  # noqa: BLE001 - one card's failure must not stop the others
        logger.warning("card reconciliation failed", extra={"member_id": member_id, "error": type(error).__name__})
        return "failed"
