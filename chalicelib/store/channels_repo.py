"""A member's channel state: following the official account, membership card, WeChat Work
contact and the staff who serve them, first attribution. Each write is safe to repeat."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.store.errors import condition_failed
from chalicelib.store.members_repo import MAX_MERGE_HOPS
from chalicelib.store.models import MemberModel


def set_mp_follow(member_id: str, followed: bool, changed_at: int) -> bool:
    """Follow or unfollow as of WeChat's CreateTime: an older event arriving late (or a retry)
    changes nothing. Returns whether it changed the member."""
    newer = MemberModel.mp_follow_changed_at.does_not_exist() | (MemberModel.mp_follow_changed_at < changed_at)
    return _update_if(
        member_id,
        [MemberModel.mp_followed.set(followed), MemberModel.mp_follow_changed_at.set(changed_at)],
        newer,
    )


def set_attribution_once(member_id: str, attribution: dict[str, Any]) -> bool:
    """The first store or referral that brought the member; later scans do not overwrite it."""
    return _update_if(member_id, [MemberModel.attribution.set(attribution)], MemberModel.attribution.does_not_exist())


def set_card(member_id: str, code: str) -> bool:
    return _update_if(member_id, [MemberModel.card_code.set(code)], None)


def clear_card(member_id: str, code: str) -> bool:
    """Only the card that was deleted: a newer card the member took since stays."""
    return _update_if(member_id, [MemberModel.card_code.remove()], MemberModel.card_code == code)


def set_work_contact(member_id: str, external_userid: str, follow_users: set[str]) -> bool:
    """The staff serving the member, as WeChat Work reported them last (replaced, not merged:
    WeChat's list is the truth)."""
    actions: list[Any] = [MemberModel.work_external_userid.set(external_userid)]
    actions.append(
        MemberModel.work_follow_users.set(follow_users) if follow_users else MemberModel.work_follow_users.remove()
    )
    return _update_if(member_id, actions, None)


def _update_if(member_id: str, actions: list[Any], condition: Any) -> bool:
    """Apply to the live member: one merged away since the caller looked lands the write on the
    member it was merged into. False when the member is gone or `condition` said no."""
    guard = MemberModel.member_id.exists() & MemberModel.merged_into.does_not_exist()
    for _ in range(MAX_MERGE_HOPS):
        try:
            MemberModel(member_id).update(actions=actions, condition=guard if condition is None else guard & condition)
            return True
        except UpdateError as error:
            if not condition_failed(error):
                raise
        try:
            merged_into = MemberModel.get(member_id, consistent_read=True).merged_into
        except MemberModel.DoesNotExist:
            return False
        if not merged_into:
            return False
        member_id = merged_into
    return False
