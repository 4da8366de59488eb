"""The notification sender: one event → at most one member-facing message, plus staff messages.

Channel per member and template (`delivery.py`): the mini-program subscribe message (订阅消息)
when the member holds a consent for that template, else the official-account template message
when the member follows the account, else skipped ("no consent"). Each message is claimed and
recorded once per event and audience (`delivery.deliver_once`). Campaign messages go to
`campaign_sender.py`, which may narrow that to one channel and counts each on its campaign.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import MemberNotFound
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.members import Member
from chalicelib.notify import campaign_sender, templates
from chalicelib.notify.delivery import Outcome, deliver_once, send, to_member
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store import members_repo


def deliver(event: DomainEvent) -> None:
    if event.kind == "campaign.message":
        campaign_sender.deliver(event)
        return
    if event.kind == "approval.decided":  # to the operator who asked, not to the member
        from chalicelib.notify import operator_notices

        operator_notices.deliver(event)
        return
    spec = templates.template(event.kind)
    if spec is None or event.member_id is None:
        logger.info("no template for event kind; nothing to send")
        return
    member = load_member(event.member_id)
    if member is None:
        logger.info("event for an unknown member; skipped")
        return
    if "mini" in spec or "mp" in spec:
        deliver_once(f"{event.event_id}#member", member.member_id, lambda: to_member(event, member, spec))
    if "staff" in spec and member.work_follow_users:
        deliver_once(f"{event.event_id}#staff", member.member_id, lambda: _to_staff(event, member, spec["staff"]))


def load_member(member_id: str) -> Member | None:
    """The member, or the survivor it was merged into; None when unknown."""
    try:
        member = members_repo.get_member(member_id)
        if member.merged_into:
            member = members_repo.get_member(member.merged_into)
        return member
    except MemberNotFound:
        return None


def _to_staff(event: DomainEvent, member: Member, spec: dict[str, Any]) -> Outcome:
    body = {
        "touser": "|".join(sorted(member.work_follow_users)),
        "msgtype": "text",
        "agentid": int(get_settings().wechat_work_agentid),
        "text": {"content": templates.render(spec["text"], event.data)},
    }
    return send("work", "cgi-bin/message/send", body)
