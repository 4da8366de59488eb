"""Campaign messages (营销推送): one per recipient, each counted on its campaign exactly once.

Every queued message ends as sent, failed or skipped, counted in the transaction that records
its delivery (`delivery.deliver_once`): skipped when the campaign was cancelled meanwhile, when
the member is gone or was merged since (the survivor is a recipient in their own right), when
the member closed the account or withdrew marketing consent (read with the member, in one
consistent read before each message: a withdrawal stops what is already queued), or when no
allowed channel reaches them; failed when WeChat refuses for good or the template is
no longer configured (dead-lettered with the reason; a redrive moves the count).
"""

from __future__ import annotations

from chalicelib.domain.campaigns import CampaignStatus
from chalicelib.domain.deliveries import DeliveryStatus
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.members import MemberStatus
from chalicelib.domain.tasks import PermanentFailure
from chalicelib.notify import templates
from chalicelib.notify.delivery import Outcome, Tally, deliver_once, to_member
from chalicelib.observability import logger
from chalicelib.store import campaigns_repo, privacy_repo


def deliver(event: DomainEvent) -> None:
    campaign_id = str(event.data.get("campaign_id") or "")
    if not campaign_id or event.member_id is None:
        raise PermanentFailure("campaign message without campaign_id or member_id")
    campaign = campaigns_repo.get(campaign_id, consistent=False)
    if campaign is None:
        logger.warning("message of an unknown campaign; dropped", extra={"campaign_id": campaign_id})
        return
    cancelled = campaign.status == CampaignStatus.CANCELLED
    tally = Tally(campaign_id, int(event.data.get("part") or 0))
    member_id = event.member_id
    deliver_once(f"{event.event_id}#member", member_id, lambda: _send(event, member_id, cancelled), tally)


def _send(event: DomainEvent, member_id: str, cancelled: bool) -> Outcome:
    if cancelled:
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
    return to_member(event, member, spec, str(event.data.get("channel") or "any"))
