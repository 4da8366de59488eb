"""Background tasks that ask WeChat what a callback does not say, run by the events worker
(listed in its `TASKS` table). Each is safe to run again on an SQS redelivery.

WeChat's answers map to the worker's outcomes: no answer or a rate limit → `RetryLater` (SQS
redelivers this record only); any other refusal → `PermanentFailure` (dead letter, with the
reason).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from chalicelib.clock import iso, utc_now
from chalicelib.domain.errors import InvalidInput, MemberNotFound, MergeConflict, MergeNotAllowed
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.tasks import PermanentFailure, RetryLater
from chalicelib.notify import events
from chalicelib.observability import logger
from chalicelib.services import identity
from chalicelib.services.tiers import tier_config, tier_name
from chalicelib.store import channels_repo, members_repo
from chalicelib.wechat import clients

T = TypeVar("T")
NOT_EXTERNAL_CONTACT = 84061  # WeChat Work: no staff member follows this contact any more
ADDED = "add_external_contact"


def sync_mp_user(event: DomainEvent) -> None:
    """task.mp_user_sync: the follower's unionid (cgi-bin/user/info) joins them to the member
    who logged into the mini-program with it (merged when both exist)."""
    openid, member_id = str(event.data["openid"]), str(event.data["member_id"])
    info = _ask(lambda: clients.get_json("mp", "cgi-bin/user/info", {"openid": openid, "lang": "zh_CN"}))
    unionid = info.get("unionid")
    if unionid:
        identity.link_alias(member_id, f"union:{unionid}", utc_now())


def sync_work_contact(event: DomainEvent) -> None:
    """task.work_contact_sync: fetch the external contact (externalcontact/get), link or create
    its member by unionid, record the staff who serve it (WeChat's list replaces ours); a new
    contact gets its tier's corporate tag and its staff a note."""
    external_userid = str(event.data["external_userid"])
    query = {"external_userid": external_userid}
    try:
        reply = _ask(
            lambda: clients.get_json("work", "cgi-bin/externalcontact/get", query), keep={NOT_EXTERNAL_CONTACT}
        )
    except clients.WeChatApiError:  # nobody follows the contact any more
        _forget_contact(external_userid)
        return
    contact = reply.get("external_contact") or {}
    follow = {str(user["userid"]) for user in reply.get("follow_user") or [] if user.get("userid")}
    aliases = [f"work:{external_userid}"]
    if contact.get("unionid"):
        aliases.insert(0, f"union:{contact['unionid']}")
    now = utc_now()
    member_id, _ = identity.find_or_create(aliases, now)
    member = members_repo.get_live_member(member_id)
    channels_repo.set_work_contact(member.member_id, external_userid, follow)
    if event.data.get("change_type") == ADDED and follow:
        tag = {"external_userid": external_userid, "userids": sorted(follow), "tier_code": member.tier_code}
        note = {"tier_name": tier_name(member.tier_code), "balance": member.balance}
        events.publish(
            [
                DomainEvent(
                    f"{event.event_id}#task.work_mark_tag", "task.work_mark_tag", member.member_id, iso(now), tag
                ),
                DomainEvent(f"{event.event_id}#staff", "staff.customer_added", member.member_id, iso(now), note),
            ]
        )


def mark_work_tier_tag(event: DomainEvent) -> None:
    """task.work_mark_tag: the contact carries its tier's corporate tag (企业标签) and loses the
    previous tier's, marked once per staff member who follows it (mark_tag needs a userid)."""
    data = event.data
    add = tier_config(str(data["tier_code"])).get("work_tag_id")
    previous = data.get("previous_tier_code")
    remove = tier_config(str(previous)).get("work_tag_id") if previous and previous != data["tier_code"] else None
    userids = [str(u) for u in data.get("userids") or ([data["userid"]] if data.get("userid") else [])]
    if not add or not userids:
        logger.info("no tag or no staff to mark the contact with", extra={"member_id": event.member_id})
        return
    for userid in userids:
        body: dict[str, Any] = {"userid": userid, "external_userid": data["external_userid"], "add_tag": [add]}
        if remove and remove != add:
            body["remove_tag"] = [remove]
        _mark_tag(body)


def _mark_tag(body: dict[str, Any]) -> None:
    _ask(lambda: clients.post_json("work", "cgi-bin/externalcontact/mark_tag", body))


def _forget_contact(external_userid: str) -> None:
    alias = f"work:{external_userid}"
    member_id = members_repo.find_member_ids([alias]).get(alias)
    if member_id is not None:
        live = members_repo.get_live_member(member_id).member_id
        channels_repo.set_work_contact(live, external_userid, set())


def _ask(call: Callable[[], T], keep: frozenset[int] | set[int] = frozenset()) -> T:
    """WeChat's answer, or the worker outcome its failure means; errcodes in `keep` are the
    caller's to handle."""
    try:
        return call()
    except clients.WeChatUnreachable as error:
        raise RetryLater(str(error)) from error
    except clients.WeChatApiError as error:
        if error.errcode in keep:
            raise
        if error.errcode in clients.TRANSIENT_ERRCODES:
            raise RetryLater(f"WeChat errcode {error.errcode}") from error
        raise PermanentFailure(f"WeChat errcode {error.errcode}: {error.errmsg}") from error


def merge_task(event: DomainEvent) -> None:
    """Consumer task `task.merge_members`: finishes a merge a request could not."""
    data = event.data
    try:
        identity.merge_members(
            str(data["survivor_id"]),
            str(data["merged_id"]),
            trigger=str(data.get("trigger") or "login"),
            now=utc_now(),
            operator=data.get("operator"),
            reason=data.get("reason"),
            approved_by=data.get("approved_by"),
        )
    except (KeyError, InvalidInput, MemberNotFound, MergeConflict, MergeNotAllowed) as error:
        raise PermanentFailure(f"merge refused: {type(error).__name__}") from error
