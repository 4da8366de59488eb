"""One member across the official account (公众号), membership card (会员卡) and WeChat Work
(企业微信): what a callback changes on the member, and the background tasks that ask WeChat
what a callback does not say (`task.mp_user_sync`, `task.work_contact_sync`,
`task.work_mark_tag`, run by the events worker).

Effects are keyed so a retried callback or a redelivered task repeats nothing: aliases are
unique, follow state is applied only when newer (WeChat's CreateTime), attribution is set once,
and events carry ids derived from the callback's dedup key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from chalicelib.clock import iso, local_date
from chalicelib.domain.callbacks import Inbound, attribution, subscribe_scene
from chalicelib.domain.events import DomainEvent
from chalicelib.observability import logger
from chalicelib.services import identity, members, referrals, replies
from chalicelib.services.tiers import tier_name
from chalicelib.settings import get_settings
from chalicelib.store import channels_repo, members_repo, outbox_repo

MP_USER_SYNC, WORK_CONTACT_SYNC = "task.mp_user_sync", "task.work_contact_sync"


def follow(inbound: Inbound, now: datetime) -> str:
    """subscribe: link or create the member by openid, mark them following, keep the QR scene
    that brought them, and learn their unionid in the background. Replies with the welcome."""
    member_id, created = identity.find_or_create([f"mp:{inbound.from_user}"], now)
    member = members_repo.get_live_member(member_id)
    channels_repo.set_mp_follow(member.member_id, True, inbound.create_time)
    _attribute(member.member_id, inbound, now, created)
    members_repo.mark_active(member.member_id, local_date(now, get_settings().timezone))
    if not member.unionid:
        data = {"openid": inbound.from_user, "member_id": member.member_id}
        _publish(inbound, MP_USER_SYNC, member.member_id, now, data)
    return replies.welcome(registered=bool(member.mini_openid))


def unfollow(inbound: Inbound, now: datetime) -> None:
    """unsubscribe: the member stays, with their points; only the follow state changes."""
    member_id = _member_of(f"mp:{inbound.from_user}")
    if member_id is not None:
        channels_repo.set_mp_follow(member_id, False, inbound.create_time)


def scan(inbound: Inbound, now: datetime) -> None:
    """SCAN by a follower: attribution, when nothing brought them before."""
    member_id, created = identity.find_or_create([f"mp:{inbound.from_user}"], now)
    live = members_repo.get_live_member(member_id).member_id
    _attribute(live, inbound, now, created)
    members_repo.mark_active(live, local_date(now, get_settings().timezone))


def link_card(inbound: Inbound, now: datetime) -> None:
    """user_get_card / submit_membercard_user_info: the card code becomes an alias of the member
    (found by unionid when WeChat gives it, else by openid)."""
    code = inbound.get("UserCardCode")
    if not code:
        return
    aliases = [f"mp:{inbound.from_user}"]
    if inbound.get("UnionId"):
        aliases.insert(0, f"union:{inbound.get('UnionId')}")
    member_id, _ = identity.find_or_create(aliases, now)
    identity.link_alias(member_id, f"card:{code}", now)
    live = members_repo.get_live_member(member_id).member_id
    channels_repo.set_card(live, code)
    # The card becomes a projection of our ledger: activated, then synced (services/member_card.py;
    # imported here: it reads the wallet, whose rules are pydantic, off a callback's cold start).
    from chalicelib.services import member_card

    member_card.linked(live, code, inbound.get("CardId"), inbound.dedup_key(), now)


def unlink_card(inbound: Inbound, now: datetime) -> None:
    code = inbound.get("UserCardCode")
    member_id = _member_of(f"card:{code}") if code else None
    if member_id is not None:
        channels_repo.clear_card(member_id, code)
        from chalicelib.services import member_card

        member_card.unlinked(member_id, code, now)


def card_consumed(inbound: Inbound, now: datetime) -> None:
    """user_consume_card (核销): recorded as a `card.consumed` event for the member."""
    code = inbound.get("UserCardCode")
    member_id = _member_of(f"card:{code}") if code else None
    member_id = member_id or _member_of(f"mp:{inbound.from_user}")
    if member_id is None:
        logger.info("card consumed by someone who is not a member")
        return
    data = {
        "card_code": code,
        "card_id": inbound.get("CardId"),
        "consume_source": inbound.get("ConsumeSource"),
        "location_name": inbound.get("LocationName"),
    }
    _publish(inbound, "card.consumed", member_id, now, data)
    members_repo.mark_active(member_id, local_date(now, get_settings().timezone))


def points_reply(openid: str, now: datetime) -> str:
    """ "积分" / the points menu: balance, tier and the next expiry; strangers are invited to join."""
    alias = f"mp:{openid}"
    member_id = members_repo.find_member_ids([alias]).get(alias)
    if member_id is None:
        return replies.welcome(registered=False)
    view = members.view(member_id, now)  # follows a merge to the surviving member
    member = view.member
    members_repo.mark_active(member.member_id, local_date(now, get_settings().timezone))
    return replies.points(tier_name(member.tier_code), member.balance, member.debt, view.next_expiry)


def queue_work_contact_sync(inbound: Inbound, now: datetime) -> None:
    """change_external_contact: WeChat Work's event names the contact only; the worker fetches
    it (unionid, the staff who follow it) and links the member."""
    data = {
        "external_userid": inbound.get("ExternalUserID"),
        "userid": inbound.get("UserID"),
        "change_type": inbound.get("ChangeType"),
    }
    _publish(inbound, WORK_CONTACT_SYNC, None, now, data)


def _attribute(member_id: str, inbound: Inbound, now: datetime, created: bool) -> None:
    scene = subscribe_scene(inbound)
    if scene:
        channels_repo.set_attribution_once(member_id, attribution(scene, iso(now)))
        referrals.arrived_by_scene(member_id, scene, now, created=created)  # ref_<code>: 邀请有礼


def _member_of(alias: str) -> str | None:
    found = members_repo.find_member_ids([alias]).get(alias)
    return members_repo.get_live_member(found).member_id if found else None


def _publish(inbound: Inbound, kind: str, member_id: str | None, now: datetime, data: Mapping[str, object]) -> None:
    """Into the outbox (the queue may be down: the relay queues it when SQS is back). If
    DynamoDB refuses the write, the callback fails, WeChat retries it, and the retry (whose
    effects are idempotent) writes the same event id again."""
    outbox_repo.write([DomainEvent(f"{inbound.dedup_key()}#{kind}", kind, member_id, iso(now), dict(data))])
