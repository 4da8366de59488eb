"""Campaigns (营销推送): definition, audience paging progress and delivery counts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.members import Member
from chalicelib.store.members_repo import member_from_model
from chalicelib.store.models import CampaignModel, MemberModel

COUNTS = ("queued", "sent", "failed", "skipped")


class CampaignExists(Exception):
    pass


def create(item: CampaignModel) -> None:
    try:
        item.save(condition=CampaignModel.campaign_id.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise CampaignExists(item.campaign_id) from error
        raise


def get(campaign_id: str) -> CampaignModel | None:
    try:
        return CampaignModel.get(campaign_id, consistent_read=True)
    except CampaignModel.DoesNotExist:
        return None


def due(now_iso: str) -> Iterator[CampaignModel]:
    """Campaigns to work on. A Scan of the campaigns table, which holds tens of items, never members."""
    condition = CampaignModel.status.is_in("scheduled", "sending") & (CampaignModel.send_at <= now_iso)
    yield from CampaignModel.scan(condition, consistent_read=True)


def set_status(campaign_id: str, status: str, expected: tuple[str, ...]) -> bool:
    try:
        CampaignModel(campaign_id).update(
            actions=[CampaignModel.status.set(status)], condition=CampaignModel.status.is_in(*expected)
        )
        return True
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise


def checkpoint(campaign_id: str, previous: dict[str, Any] | None, cursor: dict[str, Any], queued: int) -> bool:
    """Advance the cursor and the queued count together, only from the cursor we read."""
    guard = CampaignModel.cursor.does_not_exist() if previous is None else CampaignModel.cursor == previous
    try:
        CampaignModel(campaign_id).update(
            actions=[CampaignModel.cursor.set(cursor), CampaignModel.queued.add(queued)], condition=guard
        )
        return True
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise


def tier_page(tier_code: str, start: dict[str, Any] | None, limit: int) -> tuple[list[str], dict[str, Any] | None]:
    """One page of member ids of a tier (keys-only index) and where the next page starts."""
    results = MemberModel.by_tier.query(tier_code, limit=limit, last_evaluated_key=start)
    ids = [item.member_id for item in results]
    return ids, results.last_evaluated_key


def load_members(member_ids: list[str]) -> list[Member]:
    return [member_from_model(item) for item in MemberModel.batch_get(member_ids)]
