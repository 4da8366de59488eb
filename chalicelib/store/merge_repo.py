"""Member merges (会员合并): the merge record (audit trail), the points step as one transaction,
moving aliases, and copying profile gaps. Every write here is safe to repeat."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.ledger import MergeChange
from chalicelib.domain.members import MergeRecord, MergeStatus
from chalicelib.settings import get_settings
from chalicelib.store import pending_repo, points_repo
from chalicelib.store.errors import condition_failed
from chalicelib.store.models import IdentityModel, MemberModel, MergeModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

# Filled on the survivor when it has none (if_not_exists), in groups that belong together.
_PROFILE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("phone_hash", "phone_enc", "phone_masked"),
    ("birthday", "birthday_md"),
    ("mp_openid", "mp_followed", "mp_follow_changed_at"),
    ("nickname",),
    ("unionid",),
    ("mini_openid",),
    ("work_external_userid",),
    ("card_code",),
    ("attribution",),
)
_SET_ATTRIBUTES = ("tags", "work_follow_users")


def get(merge_id: str) -> MergeRecord | None:
    try:
        return _record(MergeModel.get(merge_id, consistent_read=True))
    except MergeModel.DoesNotExist:
        return None


def start(record: MergeRecord) -> MergeRecord:
    """Creates the record, or returns the one a concurrent or earlier run created."""
    item = MergeModel(
        record.merge_id,
        survivor_id=record.survivor_id,
        status=MergeStatus.STARTED,
        trigger=record.trigger,
        operator=record.operator,
        reason=record.reason,
        started_at=record.started_at,
        approved_by=record.approved_by,
    )
    try:
        item.save(condition=MergeModel.merge_id.does_not_exist())
    except PutError as error:
        if not condition_failed(error):
            raise
    stored = get(record.merge_id)
    assert stored is not None
    return stored


def retarget(merge_id: str, old_survivor: str, new_survivor: str) -> None:
    """The survivor was itself merged before the points moved: its own survivor takes over."""
    _update_if(
        merge_id,
        [MergeModel.survivor_id.set(new_survivor)],
        (MergeModel.survivor_id == old_survivor) & (MergeModel.status == MergeStatus.STARTED),
    )


def commit_step(change: MergeChange) -> None:
    """Both members version-guarded and not merged away; the record still names this survivor."""
    survivor_id = change.survivor.member_id
    tx = UnitOfWork(get_settings().region)
    not_merged = MemberModel.merged_into.does_not_exist()
    points_repo.add_change(tx, change.survivor, "s:", member_guard=not_merged)
    merged_actions: tuple[Any, ...] = ()
    if change.final:
        # Out of the tier and birthday indexes: campaigns and jobs must not reach it.
        merged_actions = (
            MemberModel.merged_into.set(survivor_id),
            MemberModel.tier_code.remove(),
            MemberModel.birthday_md.remove(),
        )
    points_repo.add_change(tx, change.merged, "m:", merged_actions, member_guard=not_merged)
    pending_repo.stage_repoint(tx, change.pending_orders, change.merged.member_id, survivor_id)
    tx.update(
        "record",
        MergeModel(change.merge_id),
        actions=[MergeModel.survivor_id.set(survivor_id)],
        condition=(MergeModel.survivor_id == survivor_id) & (MergeModel.status == MergeStatus.STARTED),
    )
    try:
        tx.commit()
    except TransactionFailed as failure:
        if failure.failed("s:entry") or failure.failed("m:entry"):
            raise points_repo.DuplicateEntry(change.merge_id) from failure
        if failure.refused or failure.retryable:
            raise points_repo.StaleRead(str(failure)) from failure
        raise  # refused as invalid (a ValidationError): planning again cannot help


def finish(merge_id: str, survivor_id: str, detail: dict[str, Any], finished_at: str) -> MergeRecord:
    _update_if(
        merge_id,
        [
            MergeModel.status.set(MergeStatus.DONE),
            MergeModel.finished_at.set(finished_at),
            MergeModel.detail.set(detail),
        ],
        (MergeModel.survivor_id == survivor_id) & (MergeModel.status == MergeStatus.STARTED),
    )
    stored = get(merge_id)
    assert stored is not None
    return stored


def aliases_of(member_id: str) -> list[str]:
    """The member's aliases through the `member-aliases` index (eventually consistent in AWS:
    callers add the aliases they know from the member item)."""
    return [item.alias for item in IdentityModel.by_member.query(member_id)]


def move_alias(alias: str, from_id: str, to_id: str) -> bool:
    """Points the alias at `to_id` if it points at either member; False when it does not
    exist or belongs to someone else."""
    try:
        IdentityModel(alias).update(
            actions=[IdentityModel.member_id.set(to_id)],
            condition=IdentityModel.member_id.is_in(from_id, to_id),
        )
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise
    return True


def copy_profile_gaps(survivor_id: str, merged_id: str) -> list[str]:
    """Profile attributes the survivor lacks, taken from the merged member (never overwriting:
    if_not_exists); tags and WeChat Work follow users are united. Returns the names copied."""
    survivor = MemberModel.get(survivor_id, consistent_read=True)
    merged = MemberModel.get(merged_id, consistent_read=True)
    actions: list[Any] = []
    copied: list[str] = []
    for group in _PROFILE_GROUPS:
        if getattr(survivor, group[0]) is None and getattr(merged, group[0]) is not None:
            for name in group:
                value = getattr(merged, name)
                if name == "birthday_md" and merged.birthday:
                    value = merged.birthday[5:]  # the merge removed it from the merged member
                if value is not None:
                    attribute = getattr(MemberModel, name)
                    actions.append(attribute.set(attribute | value))
                    copied.append(name)
    for name in _SET_ATTRIBUTES:
        extra = set(getattr(merged, name) or ()) - set(getattr(survivor, name) or ())
        if extra:
            actions.append(getattr(MemberModel, name).add(extra))
            copied.append(name)
    if (merged.last_active_on or "") > (survivor.last_active_on or ""):
        actions.append(MemberModel.last_active_on.set(merged.last_active_on))
        copied.append("last_active_on")
    if actions:
        MemberModel(survivor_id).update(actions=actions, condition=MemberModel.member_id.exists())
    return copied


def _update_if(merge_id: str, actions: list[Any], condition: Any) -> bool:
    try:
        MergeModel(merge_id).update(actions=actions, condition=condition)
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise
    return True


def _record(item: MergeModel) -> MergeRecord:
    return MergeRecord(
        merge_id=item.merge_id,
        survivor_id=item.survivor_id,
        status=MergeStatus(item.status),
        trigger=item.trigger,
        started_at=item.started_at,
        operator=item.operator,
        reason=item.reason,
        finished_at=item.finished_at,
        detail=dict(item.detail or {}),
        approved_by=item.approved_by,
    )
