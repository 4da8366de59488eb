"""The notification sender: one event → at most one member-facing message, plus staff messages.

Channel per member and template: the mini-program subscribe message (订阅消息) when the member
holds a consent for that template (each send consumes one), else the official-account template
message when the member follows the account, else skipped ("no consent").

Idempotent per (event id, audience): a delivery item `<event_id>#member` / `#staff` is claimed
with a conditional put before sending and finalised after. An SQS redelivery finds the claim and
sends nothing. A crash between send and finalise leaves the claim: the message is not sent
again (at-most-once for subscribe messages, which WeChat does not deduplicate); template
messages also carry `client_msg_id` = event id, which WeChat uses to drop duplicates.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from chalicelib.clock import iso, utc_now
from chalicelib.domain.errors import MemberNotFound
from chalicelib.domain.members import Member
from chalicelib.notify import templates
from chalicelib.notify.consumer import PermanentFailure, RetryLater
from chalicelib.notify.events import DomainEvent
from chalicelib.observability import logger, metrics
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, merge_repo, notify_repo

# 45009 API quota, 45011 frequency, 45047 too many sends, -1 system busy: try again later.
_TRANSIENT = frozenset({-1, 45009, 45011, 45047})
_REFUSED = 43101  # the user refused, or holds no consent: consume it, do not retry
_KEEP = timedelta(days=30)


def deliver(event: DomainEvent) -> None:
    spec = templates.template(event.kind)
    if spec is None or event.member_id is None:
        logger.info("no template for event kind; nothing to send")
        return
    member = _load_member(event.member_id)
    if member is None:
        return
    if "mini" in spec or "mp" in spec:
        _deliver_once(f"{event.event_id}#member", member, lambda: _to_member(event, member, spec))
    if "staff" in spec and member.work_follow_users:
        _deliver_once(f"{event.event_id}#staff", member, lambda: _to_staff(event, member, spec["staff"]))


def _load_member(member_id: str) -> Member | None:
    try:
        member = members_repo.get_member(member_id)
        if member.merged_into:
            member = members_repo.get_member(member.merged_into)
        return member
    except MemberNotFound:
        logger.info("event for an unknown member; skipped")
        return None


def _deliver_once(delivery_id: str, member: Member, send: Any) -> None:
    if not notify_repo.claim_delivery(delivery_id, member.member_id, iso(utc_now()), _KEEP):
        logger.info("already delivered", extra={"delivery_id": delivery_id})
        return
    try:
        status, detail = send()
    except RetryLater:
        notify_repo.release_delivery(delivery_id)
        raise
    except PermanentFailure as failure:
        notify_repo.finish_delivery(delivery_id, "failed", {"reason": str(failure)})
        raise
    notify_repo.finish_delivery(delivery_id, status, detail)
    metrics.add_metric(name=f"Notifications_{status}", unit="Count", value=1)


def _openids(member: Member) -> dict[str, str]:
    """The member's openid per app, from its aliases (the identity table is the truth, and a
    merge moves aliases to the survivor)."""
    found = {"mini": member.mini_openid or "", "mp": member.mp_openid or ""}
    for alias in merge_repo.aliases_of(member.member_id):
        kind, _, value = alias.partition(":")
        if kind in found and not found[kind]:
            found[kind] = value
    return {kind: value for kind, value in found.items() if value}


def _to_member(event: DomainEvent, member: Member, spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    openids = _openids(member)
    mini = spec.get("mini")
    if mini and "mini" in openids and notify_repo.consume_consent(member.member_id, mini["template_id"]):
        body = {
            "touser": openids["mini"],
            "template_id": mini["template_id"],
            "page": mini.get("page", ""),
            "data": templates.render_fields(mini["data"], event.data),
            "miniprogram_state": get_settings().wechat_mini_program_state,
            "lang": "zh_CN",
        }
        try:
            return _send("mini", "cgi-bin/message/subscribe/send", body)
        except RetryLater:
            notify_repo.return_consent(member.member_id, mini["template_id"])
            raise
    mp = spec.get("mp")
    if mp and member.mp_followed and "mp" in openids:
        body = {
            "touser": openids["mp"],
            "template_id": mp["template_id"],
            "miniprogram": {"appid": get_settings().wechat_mini_appid, "pagepath": mp.get("pagepath", "")},
            "data": templates.render_fields(mp["data"], event.data),
            "client_msg_id": hashlib.sha256(event.event_id.encode()).hexdigest()[:32],
        }
        return _send("mp", "cgi-bin/message/template/send", body)
    return "skipped", {"reason": "no_consent"}


def _to_staff(event: DomainEvent, member: Member, spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = {
        "touser": "|".join(sorted(member.work_follow_users)),
        "msgtype": "text",
        "agentid": int(get_settings().wechat_work_agentid),
        "text": {"content": templates.render(spec["text"], event.data)},
    }
    return _send("work", "cgi-bin/message/send", body)


def _send(app: str, path: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    from chalicelib.wechat.clients import WeChatApiError, WeChatUnreachable, post_json

    try:
        post_json(app, path, body)  # type: ignore[arg-type]
    except WeChatUnreachable as error:
        raise RetryLater(f"{app}: WeChat unreachable") from error
    except WeChatApiError as error:
        if error.errcode == _REFUSED:
            return "skipped", {"channel": app, "reason": "refused", "errcode": error.errcode}
        if error.errcode in _TRANSIENT:
            raise RetryLater(f"{app}: errcode {error.errcode}") from error
        raise PermanentFailure(f"{app}: errcode {error.errcode}: {error.errmsg}") from error
    return "sent", {"channel": app}
