"""Member import (会员导入): what the store holds for a batch of lines, in a few BatchGetItems,
and the one transaction per member that an import writes.

Each write is conditional on the state it was planned from: a new member's item and each of
its identities put only if absent, an existing member's points guarded by its version and its
profile gaps by their absence, the opening entry and the per-member import marker put only if
absent. A refused condition is `Refused`: the caller looks again and plans the line anew."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.domain.errors import MemberNotFound
from chalicelib.domain.imports import ImportRow
from chalicelib.domain.imports_plan import Found, Opening, entry_id, imported_marker, legacy_alias
from chalicelib.domain.ledger import PointsChange
from chalicelib.domain.members import Member
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, points_repo
from chalicelib.store.models import LedgerEntryModel, MemberModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

BATCH = 100  # keys per BatchGetItem


class Refused(Exception):
    """A condition did not hold, or the transaction met contention: nothing was written."""

    def __init__(self, tags: list[str]) -> None:
        super().__init__(", ".join(tags) or "contention")
        self.tags = tags


@dataclass(frozen=True)
class Profile:
    """Values an import writes onto a member's profile; None leaves a field alone."""

    nickname: str | None = None
    birthday: date | None = None
    phone_hash: str | None = None
    phone_enc: str | None = None
    phone_masked: str | None = None


def lookup(rows: Sequence[ImportRow], phone_hashes: Sequence[str]) -> list[Found]:
    """For each line: the members holding its legacy id and its phone, its opening entry, and
    whether the phone's member holds a legacy account already. Consistent reads."""
    legacy = [legacy_alias(row.external_id) for row in rows]
    phones = [f"phone:{digest}" for digest in phone_hashes]
    owners = members_repo.find_member_ids(sorted({*legacy, *phones}))
    openings = _openings([entry_id(row.external_id) for row in rows])
    members = _live_members(owners.values())
    candidates = {  # the members a line would attach its legacy account to
        members[owners[phone]].member_id
        for row, legacy_key, phone in zip(rows, legacy, phones, strict=True)
        if owners.get(phone) in members and legacy_key not in owners and entry_id(row.external_id) not in openings
    }
    imported = set(members_repo.find_member_ids(sorted(imported_marker(m) for m in candidates)).values())
    found = []
    for row, legacy_key, phone_key in zip(rows, legacy, phones, strict=True):
        by_phone = members.get(owners.get(phone_key, ""))
        found.append(
            Found(
                by_external_id=members.get(owners.get(legacy_key, "")),
                by_phone=by_phone,
                opening=openings.get(entry_id(row.external_id)),
                phone_member_imported=by_phone is not None and by_phone.member_id in imported,
            )
        )
    return found


def _openings(entry_ids: list[str]) -> dict[str, Opening]:
    wanted = ["entry_id", "fingerprint", "member_id"]
    found: dict[str, Opening] = {}
    for start in range(0, len(entry_ids), BATCH):
        batch = sorted(set(entry_ids[start : start + BATCH]))
        for item in LedgerEntryModel.batch_get(batch, consistent_read=True, attributes_to_get=wanted):
            found[item.entry_id] = Opening(item.fingerprint, item.member_id)
    return found


def _live_members(member_ids: Iterable[str]) -> dict[str, Member]:
    """Stored id → the live member (the one a merge moved it into, 会员合并); a closed account
    (会员注销) is no member to import onto."""
    ids = sorted(set(member_ids))
    live: dict[str, Member] = {}
    for start in range(0, len(ids), BATCH):
        for member in members_repo.get_members(ids[start : start + BATCH]):
            try:
                found = members_repo.get_live_member(member.member_id) if member.merged_into else member
            except MemberNotFound:
                continue
            if not found.closed:
                live[member.member_id] = found
    return live


def create(member: Member, change: PointsChange, aliases: list[str], phone_enc: str) -> None:
    """A new member with its identities, opening lots and entry, in one transaction."""
    tx = UnitOfWork(get_settings().region)
    members_repo.stage_new_member(tx, member, aliases, phone_enc=phone_enc)
    points_repo.add_opening(tx, change)
    _commit(tx)


def attach(change: PointsChange, aliases: list[str], profile: Profile, created_at: str) -> None:
    """A legacy account's opening balance onto an existing member (version-guarded), with its
    identities and the profile gaps it fills."""
    tx = UnitOfWork(get_settings().region)
    actions, guard = _profile(profile)
    points_repo.add_change(tx, change, member_actions=tuple(actions), member_guard=guard)
    for alias in aliases:
        members_repo.stage_alias(tx, alias, change.member_id, created_at)
    _commit(tx)


def fill(member_id: str, profile: Profile, aliases: list[str], created_at: str) -> None:
    """Profile gaps of a member imported before, each written only while still a gap."""
    tx = UnitOfWork(get_settings().region)
    actions, guard = _profile(profile)
    condition = MemberModel.member_id.exists() & MemberModel.merged_into.does_not_exist()
    if guard is not None:
        condition &= guard
    tx.update("member", MemberModel(member_id), actions=actions, condition=condition)
    for alias in aliases:
        members_repo.stage_alias(tx, alias, member_id, created_at)
    _commit(tx)


def _profile(profile: Profile) -> tuple[list[Any], Any]:
    actions: list[Any] = []
    guards: list[Any] = []
    if profile.nickname is not None:
        actions.append(MemberModel.nickname.set(profile.nickname))
        guards.append(MemberModel.nickname.does_not_exist())
    if profile.birthday is not None:
        actions.append(MemberModel.birthday.set(profile.birthday.isoformat()))
        actions.append(MemberModel.birthday_md.set(profile.birthday.strftime("%m-%d")))
        guards.append(MemberModel.birthday.does_not_exist())
    if profile.phone_hash is not None and profile.phone_enc is not None and profile.phone_masked is not None:
        actions.append(MemberModel.phone_hash.set(profile.phone_hash))
        actions.append(MemberModel.phone_enc.set(profile.phone_enc))
        actions.append(MemberModel.phone_masked.set(profile.phone_masked))
        guards.append(MemberModel.phone_hash.does_not_exist())
    guard = None
    for condition in guards:
        guard = condition if guard is None else guard & condition
    return actions, guard


def _commit(tx: UnitOfWork) -> None:
    try:
        tx.commit()
    except TransactionFailed as failure:
        if failure.refused or failure.retryable:
            raise Refused(failure.failed_tags()) from failure
        raise
