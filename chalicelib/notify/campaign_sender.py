"""Campaign messages (营销推送): one per recipient, each counted on its campaign exactly once.

Every queued message ends as sent, failed or skipped, counted in the transaction that records
its delivery (`delivery.deliver_once`): skipped when the campaign was cancelled meanwhile, when
the member is gone or was merged since (the survivor is a recipient in their own right), when
the member closed the account or withdrew marketing consent (read with the member, in one
consistent read before each message: a withdrawal stops what is already queued), or when no
allowed channel reaches them; failed when WeChat refuses for good or the template is
no longer configured (dead-lettered with the reason; a redrive moves the count).

A campaign with a coupon template grants it to each recipient the message is for (live,
active, marketing consent held, campaign not cancelled) just before the channel is chosen,
so the message can name it (`{coupon}`); under the grant key `campaign:<cid>:<member>`, so
a retried, redelivered or redriven message grants nothing twice. A refusal (sold out,
paused, a member limit) is logged and counted, and the message still goes: the campaign is
news of its own. The coupon's outcome is counted once per recipient (`#coupon` marker).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from chalicelib.clock import iso, utc_now
from chalicelib.domain.campaigns import Campaign, CampaignStatus
from chalicelib.domain.coupons import CouponNotFound, CouponRefused
from chalicelib.domain.deliveries import DeliveryStatus
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.members import MemberStatus
from chalicelib.domain.tasks import PermanentFailure
from chalicelib.notify import templates
from chalicelib.notify.delivery import Outcome, Tally, deliver_once, to_member
from chalicelib.observability import logger
from chalicelib.services import coupons
from chalicelib.store import campaigns_repo, privacy_repo


def deliver(event: DomainEvent) -> None:
    campaign_id = str(event.data.get("campaign_id") or "")
    if not campaign_id or event.member_id is None:
        raise PermanentFailure("campaign message without campaign_id or member_id")
    campaign = campaigns_repo.get(campaign_id, consistent=False)
    if campaign is None:
        logger.warning("message of an unknown campaign; dropped", extra={"campaign_id": campaign_id})
        return
    tally = Tally(campaign_id, int(event.data.get("part") or 0))
    member_id = event.member_id
    deliver_once(f"{event.event_id}#member", member_id, lambda: _send(event, member_id, campaign), tally)


def _send(event: DomainEvent, member_id: str, campaign: Campaign) -> Outcome:
    if campaign.status == CampaignStatus.CANCELLED:
        return DeliveryStatus.SKIPPED, {"reason": "campaign_cancelled"}
    spec = templates.template(str(event.data.get("template")))
    if spec is None or not ("mini" in spec or "mp" in spec):
        raise PermanentFailure(f"campaign template {event.data.get('template')!r} is not configured")
    found = privacy_repo.member_and_state(member_id)
    if found is None or found[0].merged_into:
        return DeliveryStatus.SKIPPED, {"reason": "member_gone"}
    member, privacy = found
    if privacy.status != MemberStatus.ACTIVE:
        return DeliveryStatus.SKIPPED, {"reason": "member_deleted"}
    if not privacy.marketing:
        return DeliveryStatus.SKIPPED, {"reason": "marketing_withdrawn"}
    gift: dict[str, Any] = {}
    if campaign.coupon_template_id:
        gift = _grant(event, member_id, campaign.campaign_id, campaign.coupon_template_id)
        event = replace(event, data={**event.data, **gift})
    status, detail = to_member(event, member, spec, str(event.data.get("channel") or "any"))
    return status, {**detail, **({"coupon_id": gift["coupon_id"]} if gift else {})}


def _grant(event: DomainEvent, member_id: str, campaign_id: str, template_id: str) -> dict[str, Any]:
    """The recipient's coupon, `{coupon, coupon_id}` for the message, or nothing when the
    template refuses (counted). A transient failure (Busy) propagates: the delivery is
    released and the whole message retried, the grant replaying under its key."""
    now = utc_now()
    where = {"campaign_id": campaign_id, "member_id": member_id, "template_id": template_id}
    marker = f"{event.event_id}#coupon"
    try:
        coupon = coupons.grant(template_id, member_id, f"campaign:{campaign_id}:{member_id}", now, source="campaign")
    except (CouponRefused, CouponNotFound) as refused:
        reason = refused.code
        logger.warning("campaign coupon refused; the message still goes", extra={**where, "reason": reason})
        campaigns_repo.count_coupon(
            marker, member_id, campaign_id, campaigns_repo.REFUSED, {"reason": reason}, iso(now)
        )
        return {}
    campaigns_repo.count_coupon(
        marker, member_id, campaign_id, campaigns_repo.GRANTED, {"coupon_id": coupon.coupon_id}, iso(now)
    )
    return {"coupon": coupon.terms.name, "coupon_id": coupon.coupon_id}
