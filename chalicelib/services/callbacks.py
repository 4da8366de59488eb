"""WeChat callbacks (回调) from the official account and WeChat Work: one effect per callback,
the same reply to every retry, and an answer well inside WeChat's 5 seconds.

A callback is claimed under its dedup key before anything happens. A retry that finds it done
gets the recorded reply; one that finds it still running waits a moment for the reply, then
answers "success" (WeChat has stopped listening to the first attempt by then anyway). A handler
that failed releases its claim, so WeChat's next retry runs it again; one that died is taken
over once its claim is stale. Every effect is itself safe to repeat (keyed writes, events with
ids derived from the dedup key), so a takeover that overlaps a slow handler does no harm.
Slow work (WeChat API calls) goes to the events queue as `task.*` events.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from chalicelib.domain.callbacks import Inbound, is_points_query
from chalicelib.observability import logger
from chalicelib.services import channels, replies
from chalicelib.settings import get_settings
from chalicelib.store import callbacks_repo

STALE_AFTER_SECONDS = 6  # past WeChat's 5 s deadline: that handler's reply can no longer be delivered
WAIT_FOR_REPLY_SECONDS = 1.5
_POLL_SECONDS = 0.1


def handle_mp(inbound: Inbound, now: datetime) -> str | None:
    """The passive reply text for an official-account callback, or None ("success")."""
    return _once(inbound, now, lambda: _mp_effect(inbound, now))


def handle_work(inbound: Inbound, now: datetime) -> None:
    _once(inbound, now, lambda: _work_effect(inbound, now))


def _once(inbound: Inbound, now: datetime, effect: Callable[[], str | None]) -> str | None:
    key, stamp = inbound.dedup_key(), int(now.timestamp())
    keep = timedelta(seconds=get_settings().wechat_callback_dedup_seconds)
    earlier = callbacks_repo.claim(key, stamp, STALE_AFTER_SECONDS, keep)
    if earlier is not None:
        logger.info("WeChat retry of a handled callback", extra={"dedup_key": key, "status": earlier.status})
        return earlier.reply if earlier.status == callbacks_repo.DONE else _wait_for_reply(key)
    try:
        reply = effect()
    except BaseException:
        callbacks_repo.release(key, stamp)
        raise
    callbacks_repo.finish(key, stamp, reply)
    return reply


def _wait_for_reply(key: str) -> str | None:
    deadline = time.monotonic() + WAIT_FOR_REPLY_SECONDS
    while time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        handled = callbacks_repo.get(key)
        if handled is None or handled.status == callbacks_repo.DONE:
            return handled.reply if handled else None
    return None


def _mp_effect(inbound: Inbound, now: datetime) -> str | None:
    if not inbound.from_user:
        return None
    settings = get_settings()
    if is_points_query(inbound, settings.wechat_mp_points_menu_key, replies.points_keywords()):
        return channels.points_reply(inbound.from_user, now)
    handler = _MP_EVENTS.get(inbound.event) if inbound.msg_type == "event" else None
    if handler is None:
        return None
    return handler(inbound, now)


def _work_effect(inbound: Inbound, now: datetime) -> None:
    if inbound.event == "change_external_contact" and inbound.get("ExternalUserID"):
        channels.queue_work_contact_sync(inbound, now)


_MP_EVENTS: dict[str, Callable[[Inbound, datetime], str | None]] = {
    "subscribe": channels.follow,
    "unsubscribe": channels.unfollow,
    "scan": channels.scan,
    "user_get_card": channels.link_card,
    "submit_membercard_user_info": channels.link_card,
    "user_del_card": channels.unlink_card,
    "user_consume_card": channels.card_consumed,
}
