"""One delivery: claim it, send to the member's channel (or staff), record the outcome.

Shared by the notification sender (`sender.py`) and the campaign sender (`campaign_sender.py`).

Idempotent per delivery id (`<event_id>#member` / `#staff`): the delivery item is claimed
with a conditional put before sending and finalised after. A redelivery that finds it finished
sends nothing. One that finds it still claimed asks SQS for a later redelivery (another copy
may be sending right now); once the claim is older than any attempt can take, the attempt that
made it is known to have died between claim and outcome: it is finalised as `failed`
("unconfirmed") without sending again, at-most-once, since WeChat does not deduplicate
subscribe messages. Template messages also carry `client_msg_id` derived from the event id,
which WeChat uses to drop duplicates. A delivery that failed for good may be claimed again
(DLQ redrive after a fix).

Channel per member and template: the mini-program subscribe message (订阅消息) when the member
holds a consent for that template (each send consumes one), else the official-account template
message when the member follows the account, else skipped ("no consent").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.clock import iso, utc_now
from chalicelib.domain.deliveries import DeliveryStatus
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.members import Member
from chalicelib.domain.tasks import PermanentFailure, RetryLater
from chalicelib.notify import templates
from chalicelib.observability import logger, metrics
from chalicelib.settings import get_settings
from chalicelib.store import notify_repo

_REFUSED = 43101  # the user refused, or holds no consent: consume it, do not retry
KEEP = timedelta(days=30)  # delivery records outlive the queue (4 days) and the DLQ (14 days)
# Longer than an attempt can take (the worker Lambda times out after 10 s), shorter than the
# queue's visibility timeout (60 s): the first redelivery after a crash settles the claim.
STALE_CLAIM = timedelta(seconds=45)
Outcome = tuple[DeliveryStatus, dict[str, Any]]


@dataclass(frozen=True)
class Tally:
    """The campaign a delivery counts towards, and the audience partition it was queued from."""

    campaign_id: str
    part: int


def deliver_once(delivery_id: str, member_id: str, send: Callable[[], Outcome], tally: Tally | None = None) -> None:
    now = iso(utc_now())
    note = None if tally is None else {"part": tally.part}
    claim = notify_repo.claim_delivery(delivery_id, member_id, now, KEEP, note)
    if claim.taken is None:
        _claimed_before(delivery_id, claim.found or {}, tally)
        return
    try:
        status, detail = send()
    except PermanentFailure as failure:
        _finish(delivery_id, DeliveryStatus.FAILED, {"reason": str(failure)}, tally, claim.taken)
        raise
    except BaseException:
        # Nothing reached WeChat (or WeChat said "later"): let the redelivery try again.
        notify_repo.release_delivery(delivery_id, claim.taken)
        raise
    _finish(delivery_id, status, detail, tally, claim.taken)
    metrics.add_metric_with_dimensions(name="Notifications", unit="Count", value=1, dimensions={"status": status})


def _finish(
    delivery_id: str,
    status: DeliveryStatus,
    detail: dict[str, Any],
    tally: Tally | None,
    previous: str,
    claimed_at: str | None = None,
) -> None:
    campaign_id = None if tally is None else tally.campaign_id
    if tally is not None:
        detail = {**detail, "part": tally.part}
    notify_repo.finish_delivery(
        delivery_id, status, detail, campaign_id=campaign_id, previous=previous, claimed_at=claimed_at
    )


def _claimed_before(delivery_id: str, found: dict[str, Any], tally: Tally | None) -> None:
    logger.append_keys(delivery_id=delivery_id)
    try:
        if tally is not None and found.get("detail", {}).get("part", tally.part) != tally.part:
            # Queued again from another partition: one message, and one count, per member.
            notify_repo.uncount_duplicate(delivery_id, tally.campaign_id, tally.part, iso(utc_now()), KEEP)
            logger.info("campaign message queued twice; counted once")
        elif found.get("status") != DeliveryStatus.SENDING:
            logger.info("already delivered")
        elif found["created_at"] >= iso(utc_now() - STALE_CLAIM):
            raise RetryLater("delivery in progress elsewhere")
        else:
            reason = {"reason": "the attempt stopped between claim and outcome", "unconfirmed": True}
            previous = found.get("detail", {}).get("previous", DeliveryStatus.NEW)
            _finish(delivery_id, DeliveryStatus.FAILED, reason, tally, previous, claimed_at=found["created_at"])
            logger.warning("stale delivery claim finalised as failed")
    finally:
        logger.remove_keys(["delivery_id"])


def to_member(event: DomainEvent, member: Member, spec: dict[str, Any], channel: str = "any") -> Outcome:
    """Openids come from the member item: an alias added later fills it, a merge copies it to
    the survivor, so no identity lookup is needed per message."""
    mini = spec.get("mini") if channel in ("any", "mini") else None
    if mini and member.mini_openid and notify_repo.consume_consent(member.member_id, mini["template_id"]):
        return _send_subscribe(event, member, mini, member.mini_openid)
    mp = spec.get("mp") if channel in ("any", "mp") else None
    if mp and member.mp_followed and member.mp_openid:
        return send("mp", "cgi-bin/message/template/send", _template_body(event, mp, member.mp_openid))
    return DeliveryStatus.SKIPPED, {"reason": "no_consent"}


def _send_subscribe(event: DomainEvent, member: Member, mini: dict[str, Any], openid: str) -> Outcome:
    body = {
        "touser": openid,
        "template_id": mini["template_id"],
        "page": mini.get("page", ""),
        "data": templates.render_fields(mini["data"], event.data),
        "miniprogram_state": get_settings().wechat_mini_program_state,
        "lang": "zh_CN",
    }
    try:
        return send("mini", "cgi-bin/message/subscribe/send", body)
    except BaseException:
        # WeChat uses a consent only on a successful send: give ours back (43101 is not here:
        # that one returns "skipped" and the consent stays used).
        notify_repo.return_consent(member.member_id, mini["template_id"])
        raise


def _template_body(event: DomainEvent, mp: dict[str, Any], openid: str) -> dict[str, Any]:
    return {
        "touser": openid,
        "template_id": mp["template_id"],
        "miniprogram": {"appid": get_settings().wechat_mini_appid, "pagepath": mp.get("pagepath", "")},
        "data": templates.render_fields(mp["data"], event.data),
        "client_msg_id": client_msg_id(event.event_id),
    }


def client_msg_id(event_id: str) -> str:
    """Stable per event (WeChat drops a repeated one), within WeChat's 64-character limit."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:32]


def send(app: str, path: str, body: dict[str, Any]) -> Outcome:
    """One WeChat message call, its answer mapped to an outcome or to the worker's outcomes."""
    from chalicelib.wechat.clients import TRANSIENT_ERRCODES, WeChatApiError, WeChatUnreachable, post_json

    try:
        post_json(app, path, body)  # type: ignore[arg-type]
    except WeChatUnreachable as error:
        raise RetryLater(f"{app}: WeChat unreachable") from error
    except WeChatApiError as error:
        if error.errcode == _REFUSED:
            return DeliveryStatus.SKIPPED, {"channel": app, "reason": "refused", "errcode": error.errcode}
        if error.errcode in TRANSIENT_ERRCODES:
            raise RetryLater(f"{app}: errcode {error.errcode}") from error
        raise PermanentFailure(f"{app}: errcode {error.errcode}: {error.errmsg}") from error
    return DeliveryStatus.SENT, {"channel": app}
