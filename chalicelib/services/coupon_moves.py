"""Coupons through a merge (会员合并): the survivor holds the merged member's coupons.

Coupons live in their member's partition (the member's list is one Query, the per-member
limits count there), so they move rather than being read through the merge: the merge's
hook (`merged`, called by services/identity.py after the points moved) moves up to
`INLINE` coupons at once, each in its own transaction (store/coupon_moves_repo.py); more
than that, or a failure (contention, an outage), is left to the worker: a `task.move_coupons`
event (notify/consumer.py TASKS) that moves the rest. Either way the merge itself stands.
Idempotent: a moved coupon is no longer under the merged member, so a re-run (a resumed
merge, a redelivered task) moves only what is left. The task moves them to the member the
survivor is by then (a survivor merged on since: its own survivor), so none are left behind.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.clock import iso
from chalicelib.domain.errors import Busy, MemberNotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.tasks import PermanentFailure
from chalicelib.observability import logger
from chalicelib.retry import backoff
from chalicelib.settings import get_settings
from chalicelib.store import coupon_moves_repo as repo
from chalicelib.store import members_repo, outbox_repo
from chalicelib.store.coupon_moves_repo import Moved

INLINE = 25  # coupons moved within the merge's request; more go to the worker
PAGE = 100
TASK = "task.move_coupons"


def merged(merged_id: str, survivor_id: str, now: datetime) -> None:
    """The merge's hook (`survivor_id` live: the merge just moved the points onto it); never
    fails the merge, whose points and aliases have moved already."""
    try:
        if move_coupons(merged_id, survivor_id, limit=INLINE):
            return
        reason = "more coupons than move inline"
    except Exception as error:  # noqa: BLE001 - the merge's own effect must stand; the worker retries
        reason = type(error).__name__
    logger.info("coupon move left to the worker", extra={"member_id": merged_id, "reason": reason})
    try:
        _enqueue(merged_id, survivor_id, now)
    except Exception as error:  # noqa: BLE001 - logged: a merge run again (or the task) moves them
        logger.warning("coupon move not queued", extra={"member_id": merged_id, "error": type(error).__name__})


def move_coupons(merged_id: str, target: str, *, limit: int | None = None) -> bool:
    """Move the merged member's coupons onto the live member `target`, at most `limit` this
    call (one Query per 100 coupons, one transaction each); True when none are left."""
    tried = 0
    after: str | None = None
    while True:
        ids, after = repo.coupon_ids(merged_id, after, PAGE)
        for coupon_id in ids:
            if tried == limit:
                return False
            _move_one(merged_id, target, coupon_id)
            tried += 1
        if after is None:
            return True


def move_task(event: DomainEvent) -> None:
    """Consumer task `task.move_coupons`: a contention or an outage raises (SQS redelivers)."""
    try:
        merged_id = str(event.data["merged_id"])
        target = members_repo.get_live_member(str(event.data["survivor_id"])).member_id
    except (KeyError, MemberNotFound) as error:
        raise PermanentFailure(f"coupon move refused: {type(error).__name__}") from error
    if target != merged_id:  # a merge the other way round won: nothing to move onto itself
        move_coupons(merged_id, target)


def _move_one(merged_id: str, survivor_id: str, coupon_id: str) -> None:
    """A coupon changed meanwhile (used, returned, expired) is read again and moved as it is now."""
    for attempt in range(get_settings().tx_max_attempts):
        outcome = repo.move(merged_id, survivor_id, coupon_id)
        if outcome in (Moved.DONE, Moved.GONE):
            return
        if outcome == Moved.STUCK:
            logger.error("coupon cannot move", extra={"member_id": merged_id, "coupon_id": coupon_id})
            return
        backoff(attempt)
    raise Busy(f"coupon {coupon_id} of {merged_id} kept changing")


def _enqueue(merged_id: str, survivor_id: str, now: datetime) -> None:
    data = {"merged_id": merged_id, "survivor_id": survivor_id}
    event_id = f"coupon-move:{merged_id}:{survivor_id}:{iso(now)}"
    outbox_repo.write([DomainEvent(event_id, TASK, survivor_id, iso(now), data)])
