"""One member across channels (会员身份): find or create a member by its aliases.

unionid anchors a member when WeChat provides it; openids per app (`mini:`, `mp:`), the
WeChat Work external_userid (`work:`) and the phone hash (`phone:`) are aliases, each unique
by conditional put.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime

from chalicelib.clock import iso
from chalicelib.domain.members import Member
from chalicelib.settings import get_settings
from chalicelib.store import members_repo


def find_or_create(aliases: list[str], now: datetime) -> tuple[str, bool]:
    """The member owning the first alias found (the anchor first), or a new member holding
    all of them. Returns (member_id, created)."""
    for _ in range(3):
        found = members_repo.find_member_ids(aliases)
        if found:
            member_id = found.get(aliases[0]) or next(iter(found.values()))
            for alias in aliases:
                if alias not in found:
                    link_alias(member_id, alias, now)
            return member_id, False
        member = Member(member_id=f"m_{uuid.uuid4().hex[:20]}", created_at=iso(now))
        member.tier_code = get_settings().default_tier_code
        try:
            members_repo.create_member(member, aliases)
            return member.member_id, True
        except members_repo.AliasTaken:
            continue  # a concurrent first login won: use its member
    raise members_repo.AliasTaken(aliases[0])


def link_alias(member_id: str, alias: str, now: datetime) -> None:
    # Another member may already own this alias (e.g. the unionid arrived late): merging the
    # two is decided by the caller; here the anchor member is used.
    with contextlib.suppress(members_repo.AliasTaken):
        members_repo.add_alias(member_id, alias, iso(now))
