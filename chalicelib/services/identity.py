"""One member across channels (会员身份), and merging two members into one (会员合并).

unionid anchors a member when WeChat provides it; openids per app (`mini:`, `mp:`), the
WeChat Work external_userid (`work:`) and the phone hash (`phone:`) are aliases, each unique
by conditional put. When a login or binding shows that two members are one person (the
unionid arrived late, the same phone was bound twice), they are merged; an operator may
merge any two. A merge runs in steps that are each safe to repeat, so a crash or a
concurrent run resumes instead of doubling anything:

1. the merge record (audit trail), keyed by the merged member;
2. points: one transaction moves balance, debt, growth and lots, with a ledger entry on
   each side, and marks the merged member `merged_into` the survivor: from then on every
   operation that still names it reaches the survivor (lots beyond one transaction's
   capacity move in earlier transactions of the same shape); then the wallet (储值) moves;
3. aliases are re-pointed to the survivor; 4. profile gaps are filled; 5. the record closes.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import replace
from datetime import datetime
from typing import NoReturn

from chalicelib.clock import iso
from chalicelib.domain import ledger as kinds
from chalicelib.domain.errors import Busy, InvalidInput, MemberNotFound, MergeConflict, MergeNotAllowed
from chalicelib.domain.events import DomainEvent
from chalicelib.domain.ledger import plan_merge_step
from chalicelib.domain.members import (
    Member,
    MergeRecord,
    MergeStatus,
    channel_fields,
    choose_survivor,
    may_auto_merge,
)
from chalicelib.observability import logger
from chalicelib.retry import backoff
from chalicelib.services import coupon_moves, referrals, tiers
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, merge_repo, outbox_repo, pending_repo, points_repo
from chalicelib.store.errors import is_unavailable

MergeResult = MergeRecord
_TRIGGERS = {"union": "unionid", "phone": "phone"}


def find_or_create(aliases: list[str], now: datetime) -> tuple[str, bool]:
    """The member owning the aliases (the anchor first), merging members that turn out to be
    one person, or a new member holding all of them. Returns (member_id, created)."""
    for _ in range(3):
        found = members_repo.find_member_ids(aliases)
        if found:
            return _settle(aliases, found, now), False
        member = Member(member_id=f"m_{uuid.uuid4().hex[:20]}", created_at=iso(now))
        member.tier_code = get_settings().default_tier_code
        for name, value in channel_fields(aliases).items():
            setattr(member, name, value)
        try:
            members_repo.create_member(member, aliases)
            return member.member_id, True
        except members_repo.AliasTaken:
            continue  # a concurrent first login won: use its member
    raise members_repo.AliasTaken(aliases[0])


def link_alias(member_id: str, alias: str, now: datetime) -> None:
    """Give the member an alias, merging with its owner when that is allowed."""
    with contextlib.suppress(MergeNotAllowed):
        link_or_merge(member_id, alias, now, trigger=_TRIGGERS.get(alias.partition(":")[0], "login"))


def link_or_merge(member_id: str, alias: str, now: datetime, *, trigger: str) -> str:
    """Adds the alias to the member; when another member owns it, the two are merged. Returns
    the surviving member id. Raises MergeNotAllowed when the owner is another WeChat user."""
    live = members_repo.get_live_member(member_id).member_id
    for _ in range(3):
        try:
            members_repo.add_alias(live, alias, iso(now))
            return live
        except members_repo.AliasTaken:
            owner = members_repo.find_member_ids([alias]).get(alias)
        if owner is not None:
            survivor = _unify(live, owner, now, trigger)
            if owner != survivor:
                merge_repo.move_alias(alias, owner, survivor)
            return survivor
    raise Busy(f"alias of {member_id} kept changing")


def merge_members(
    survivor_id: str,
    merged_id: str,
    *,
    trigger: str,
    now: datetime,
    operator: str | None = None,
    reason: str | None = None,
    approved_by: str | None = None,
) -> MergeResult:
    """Merge `merged_id` into `survivor_id`. Running it again returns the same record. Members
    of different WeChat users merge only by an approved request (services/merge_requests.py)."""
    if survivor_id == merged_id:
        raise InvalidInput("a member cannot be merged into itself", field="merged_id")
    record = merge_repo.get(merged_id)
    if record is not None and record.status == MergeStatus.DONE:
        return _finished(record, survivor_id)
    merged = _member(merged_id, "merged_id")
    survivor = _member(survivor_id, "survivor_id")
    if survivor.member_id == merged_id:
        raise MergeConflict(f"{survivor_id} was merged into {merged_id}", field="survivor_id")
    if record is None and approved_by is None and not may_auto_merge(_unionids(survivor), _unionids(merged)):
        raise MergeNotAllowed("the members are different WeChat users", field="merged_id")
    wanted = MergeRecord(
        merged_id, survivor.member_id, MergeStatus.STARTED, trigger, iso(now), operator, reason, approved_by=approved_by
    )
    record = record or merge_repo.start(wanted)
    if record.status == MergeStatus.DONE:
        return _finished(record, survivor.member_id)
    target = _move_points(_align(record, survivor.member_id), merged_id, now)
    from chalicelib.services import member_card, wallet_merge  # the wallet's rules (pydantic) off the cold start

    wallet_merge.merged(merged_id, target, now)  # 储值 follows (Busy: a re-run resumes)
    aliases = _move_aliases(merged_id, target)
    referrals.merged(merged_id, target)  # 邀请有礼: the invitee's referral follows; never fails the merge
    coupon_moves.merged(merged_id, target, now)  # the coupons follow (or the worker moves them); never fails
    member_card.merged(merged_id, target, now)  # the member card (会员卡) follows, or is superseded
    merge_repo.copy_profile_gaps(target, merged_id)
    return merge_repo.finish(merged_id, target, _detail(merged_id, aliases), iso(now))


def _settle(aliases: list[str], found: dict[str, str], now: datetime) -> str:
    owners = list(dict.fromkeys(found[alias] for alias in aliases if alias in found))
    anchor = _live_id(owners[0], now)
    for other in owners[1:]:
        with contextlib.suppress(MergeNotAllowed):  # another WeChat user: the anchor stays
            anchor = _unify(anchor, other, now, "login")
    for alias in aliases:
        owner = found.get(alias)
        if owner is None:
            with contextlib.suppress(MergeNotAllowed):
                anchor = link_or_merge(anchor, alias, now, trigger="login")
        elif owner != anchor and _live_id(owner, now) == anchor:
            merge_repo.move_alias(alias, owner, anchor)  # left behind by an unfinished merge
    return anchor


def _live_id(member_id: str, now: datetime) -> str:
    """The live member; a member still reached through an alias of a merged one resumes that merge."""
    live = members_repo.get_live_member(member_id).member_id
    if live != member_id:
        record = merge_repo.get(member_id)
        if record is not None and record.status != MergeStatus.DONE:
            _merge_or_enqueue(record.survivor_id, member_id, record.trigger, now)
    return live


def _unify(a_id: str, b_id: str, now: datetime, trigger: str) -> str:
    a, b = members_repo.get_live_member(a_id), members_repo.get_live_member(b_id)
    if a.member_id == b.member_id:
        return a.member_id
    a_union, b_union = _unionids(a), _unionids(b)
    if not may_auto_merge(a_union, b_union):
        raise MergeNotAllowed("the members are different WeChat users", field="member")
    survivor, merged = choose_survivor(a, b, bool(a_union), bool(b_union))
    try:
        _merge_or_enqueue(survivor.member_id, merged.member_id, trigger, now)
    except MergeConflict:  # a concurrent merge joined them the other way round
        return members_repo.get_live_member(a_id).member_id
    return survivor.member_id


def _merge_or_enqueue(survivor_id: str, merged_id: str, trigger: str, now: datetime) -> None:
    try:
        merge_members(survivor_id, merged_id, trigger=trigger, now=now)
    except Exception as error:
        if not (isinstance(error, Busy) or is_unavailable(error)):
            raise
        logger.warning("merge left to the worker", extra={"member_id": merged_id, "error": type(error).__name__})
        data = {"survivor_id": survivor_id, "merged_id": merged_id, "trigger": trigger}
        kind = "task.merge_members"
        outbox_repo.write([DomainEvent(f"merge:{merged_id}:{survivor_id}#{kind}", kind, survivor_id, iso(now), data)])


def _member(member_id: str, field: str) -> Member:
    try:
        return members_repo.get_live_member(member_id) if field == "survivor_id" else members_repo.get_member(member_id)
    except MemberNotFound as missing:
        raise MemberNotFound(member_id, field=field) from missing


def _unionids(member: Member) -> set[str]:
    ids = {alias[6:] for alias in merge_repo.aliases_of(member.member_id) if alias.startswith("union:")}
    return ids | ({member.unionid} if member.unionid else set())


def _finished(record: MergeRecord, survivor_id: str) -> MergeRecord:
    same = record.survivor_id == survivor_id or (
        members_repo.get_live_member(record.survivor_id).member_id
        == members_repo.get_live_member(survivor_id).member_id
    )
    if not same:
        raise MergeConflict(f"already merged into {record.survivor_id}", field="merged_id")
    return record


def _align(record: MergeRecord, survivor_id: str) -> str:
    """A started record names this survivor, or one that was merged into it since."""
    if record.survivor_id != survivor_id:
        if members_repo.get_live_member(record.survivor_id).member_id != survivor_id:
            raise MergeConflict(f"being merged into {record.survivor_id}", field="merged_id")
        merge_repo.retarget(record.merge_id, record.survivor_id, survivor_id)
    return survivor_id


def _move_points(survivor_id: str, merged_id: str, now: datetime) -> str:
    stale = 0
    # Two members at once lose more races than one: a merge is rare, so it may try longer.
    while stale < 3 * get_settings().tx_max_attempts:
        merged = members_repo.get_member(merged_id)
        if merged.merged_into:
            return merged.merged_into
        survivor = members_repo.get_live_member(survivor_id)
        if survivor.member_id == merged_id:
            raise MergeConflict(f"{survivor_id} was merged into {merged_id}", field="survivor_id")
        if survivor.member_id != survivor_id:  # the survivor was merged away meanwhile
            merge_repo.retarget(merged_id, survivor_id, survivor.member_id)
            survivor_id = survivor.member_id
        lots, merged_lots = points_repo.load_lots(survivor_id), points_repo.load_lots(merged_id)
        tier = tiers.merged_tier(survivor, merged)
        pending_items = pending_repo.of_member(merged_id) if merged.pending else []
        if sum(item.remaining for item in pending_items) != merged.pending:  # the index lags: read again
            stale += 1
            backoff(stale)
            continue
        pending = tuple(item.order_entry_id for item in pending_items)
        change = plan_merge_step(
            survivor, lots, merged, merged_lots, created_at=iso(now), tier_code=tier, pending_orders=pending
        )
        if change.final and change.survivor.tier_code:
            entry = change.survivor.entry
            after = replace(survivor, growth=survivor.growth + change.survivor.growth_delta, tier_code=tier)
            change.survivor.events = tuple(
                tiers.tier_events(entry.entry_id, after, tier, survivor.tier_code, entry.created_at)
            )
        try:
            merge_repo.commit_step(change)
        except points_repo.DuplicateEntry:
            continue
        except points_repo.StaleRead:
            stale += 1
            backoff(stale)
            survivor_id = _align(merge_repo.get(merged_id) or _gone(merged_id), survivor_id)
            continue
        if change.final:
            return survivor_id
    raise Busy(f"merge of {merged_id} busy")


def _gone(merged_id: str) -> NoReturn:
    raise MergeConflict(f"merge record of {merged_id} vanished", field="merged_id")


def aliases_of(member: Member) -> list[str]:
    """The member's aliases: the index's (eventually consistent) and those on the item."""
    known = set(merge_repo.aliases_of(member.member_id))
    values = {"union": member.unionid, "mini": member.mini_openid, "mp": member.mp_openid}
    values |= {"work": member.work_external_userid, "phone": member.phone_hash, "card": member.card_code}
    known |= {f"{kind}:{value}" for kind, value in values.items() if value}
    return sorted(known)


def _move_aliases(merged_id: str, survivor_id: str) -> list[str]:
    merged = members_repo.get_member(merged_id)
    return [alias for alias in aliases_of(merged) if merge_repo.move_alias(alias, merged_id, survivor_id)]


def _detail(merged_id: str, aliases: list[str]) -> dict[str, object]:
    """What moved, read back from the ledger: the same whichever run closes the record."""
    final = points_repo.get_entry(f"merge:{merged_id}:out")
    steps = [
        entry
        for entry in points_repo.iter_member_entries(merged_id, kind=kinds.MERGE)
        if entry.entry_id.startswith(f"merge:{merged_id}:out:")
    ]
    steps += [final] if final else []
    return {
        "points": sum(int(entry.detail.get("points", 0)) for entry in steps),
        "lots": sum(int(entry.detail.get("lots", 0)) for entry in steps),
        "debt": int(final.detail.get("debt", 0)) if final else 0,
        "growth": int(final.detail.get("growth", 0)) if final else 0,
        "aliases": len(aliases),
        "alias_kinds": sorted({alias.partition(":")[0] for alias in aliases}),
        "entries": [entry.entry_id for entry in steps],
    }
