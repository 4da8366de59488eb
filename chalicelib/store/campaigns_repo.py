"""Campaigns (营销推送): definition, audience paging progress and delivery counts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.domain.campaigns import COUPON_COUNTS, PENDING, Campaign, CampaignStatus
from chalicelib.domain.members import Member
from chalicelib.retry import backoff
from chalicelib.settings import get_settings
from chalicelib.store.errors import condition_failed
from chalicelib.store.members_repo import member_from_model
from chalicelib.store.models import CampaignModel, DeliveryModel, MemberModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

DUE = "due"
COUNTS = ("queued", "sent", "failed", "skipped", *COUPON_COUNTS)
COUPON_KEEP = timedelta(days=30)  # as the message's own delivery record
GRANTED, REFUSED = "granted", "refused"

# Audience sources: keys-only member indexes, each paged in member id order.
_INDEXES = {"tier": MemberModel.by_tier, "birthday": MemberModel.by_birthday}
_INDEX_KEYS = {"tier": "tier_code", "birthday": "birthday_md"}


class CampaignExists(Exception):
    pass


def _from_model(item: CampaignModel) -> Campaign:
    return Campaign(
        campaign_id=item.campaign_id,
        name=item.name,
        template=item.template,
        audience=dict(item.audience or {}),
        send_at=item.send_at,
        status=CampaignStatus(item.status),
        created_by=item.created_by,
        created_at=item.created_at,
        fingerprint=item.fingerprint,
        cursor=item.cursor,
        counts={name: int(getattr(item, name) or 0) for name in COUNTS},
        coupon_template_id=item.coupon_template_id,
    )


def create(campaign: Campaign) -> None:
    item = CampaignModel(
        campaign.campaign_id,
        name=campaign.name,
        template=campaign.template,
        audience=campaign.audience,
        send_at=campaign.send_at,
        status=campaign.status,
        created_by=campaign.created_by,
        created_at=campaign.created_at,
        fingerprint=campaign.fingerprint,
        pending=DUE if campaign.status in PENDING else None,
        coupon_template_id=campaign.coupon_template_id,
    )
    # A unit of work, so that the operator's audit entry commits with the campaign.
    uow = UnitOfWork(get_settings().region)
    uow.put("campaign", item, condition=CampaignModel.campaign_id.does_not_exist())
    try:
        uow.commit()
    except TransactionFailed as error:
        if error.failed("campaign"):
            raise CampaignExists(campaign.campaign_id) from error
        raise


def get(campaign_id: str, consistent: bool = True) -> Campaign | None:
    try:
        return _from_model(CampaignModel.get(campaign_id, consistent_read=consistent))
    except CampaignModel.DoesNotExist:
        return None


def due(now_iso: str) -> Iterator[Campaign]:
    """Campaigns to work on: the sparse `due` index holds only those still to queue, so a run
    reads what is due, never the finished history. The index is eventually consistent: each
    campaign is read again, and `set_status` re-checks the state it moves from."""
    for key in CampaignModel.by_due.query(DUE, CampaignModel.send_at <= now_iso):
        campaign = get(key.campaign_id)
        if campaign is not None and campaign.status in PENDING:
            yield campaign


def set_status(campaign_id: str, status: CampaignStatus, expected: tuple[CampaignStatus, ...]) -> bool:
    actions: list[Any] = [CampaignModel.status.set(status)]
    if status not in PENDING:
        actions.append(CampaignModel.pending.remove())  # leaves the `due` index
    uow = UnitOfWork(get_settings().region)  # an operator's cancel is audited with it
    uow.update("campaign", CampaignModel(campaign_id), actions=actions, condition=CampaignModel.status.is_in(*expected))
    try:
        uow.commit()
        return True
    except TransactionFailed as error:
        if error.failed("campaign"):
            return False
        raise


def checkpoint(campaign_id: str, previous: dict[str, Any] | None, cursor: dict[str, Any], queued: int) -> bool:
    """Advance the cursor and the queued count together, only from the cursor we read (a page
    published after a cancel is still counted: its messages are delivered as skipped)."""
    guard = CampaignModel.cursor.does_not_exist() if previous is None else CampaignModel.cursor == previous
    try:
        CampaignModel(campaign_id).update(
            actions=[CampaignModel.cursor.set(cursor), CampaignModel.queued.add(queued)], condition=guard
        )
        return True
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise


def audience_page(index: str, key: str, after: str | None, limit: int) -> tuple[list[str], bool]:
    """Member ids under one key of a keys-only index (`tier`: a tier code, `birthday`: `MM-DD`)
    after member id `after`, and whether more may follow. The position is a member id, so a
    checkpoint can be saved after any member."""
    start = None if after is None else {_INDEX_KEYS[index]: {"S": key}, "member_id": {"S": after}}
    results = _INDEXES[index].query(key, limit=limit, page_size=limit, last_evaluated_key=start)
    ids = [item.member_id for item in results]
    return ids, results.last_evaluated_key is not None


def load_members(member_ids: list[str]) -> list[Member]:
    """Strongly consistent: the index may lag a tier change, the member item does not."""
    return [member_from_model(item) for item in MemberModel.batch_get(member_ids, consistent_read=True)]


def count_coupon(
    delivery_id: str, member_id: str, campaign_id: str, outcome: str, detail: dict[str, Any], now: str
) -> bool:
    """Count a recipient's coupon outcome once: a marker delivery item (`<event>#coupon`) is put
    with the count in one transaction, so a retried or redelivered message counts nothing twice.
    A refusal that a later attempt turns into a grant (stock added meanwhile) moves its count.
    False when it was counted already."""
    counter = getattr(CampaignModel, f"coupons_{outcome}")

    def first() -> UnitOfWork:
        item = DeliveryModel(delivery_id, member_id=member_id, status=outcome, detail=detail, created_at=now)
        item.expires_at = COUPON_KEEP  # TTLAttribute takes a timedelta from now
        tx = UnitOfWork(get_settings().region)
        tx.put("coupon", item, condition=DeliveryModel.delivery_id.does_not_exist())
        tx.update("campaign", CampaignModel(campaign_id), actions=[counter.add(1)])
        return tx

    def refusal_to_grant() -> UnitOfWork:
        tx = UnitOfWork(get_settings().region)
        actions = [DeliveryModel.status.set(GRANTED), DeliveryModel.detail.set(detail)]
        tx.update("coupon", DeliveryModel(delivery_id), actions=actions, condition=DeliveryModel.status == REFUSED)
        moved = [CampaignModel.coupons_granted.add(1), CampaignModel.coupons_refused.add(-1)]
        tx.update("campaign", CampaignModel(campaign_id), actions=moved)
        return tx

    if _commit(first):
        return True
    return outcome == GRANTED and _commit(refusal_to_grant)


def _commit(build: Callable[[], UnitOfWork]) -> bool:
    """Retry contention (every recipient counts on the one campaign item); False when the
    marker's condition failed: counted before."""
    attempts = get_settings().tx_max_attempts
    for attempt in range(attempts):
        try:
            build().commit()
            return True
        except TransactionFailed as failure:
            if failure.failed("coupon"):
                return False
            if not failure.retryable or attempt == attempts - 1:
                raise
            backoff(attempt, base=0.02, cap=1.0)
    raise AssertionError("unreachable")
