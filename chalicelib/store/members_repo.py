"""Members and their identities (aliases). Every alias is unique by conditional put."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

from pynamodb.exceptions import PutError, UpdateError

from chalicelib.domain.adjustments import Grant
from chalicelib.domain.errors import AlreadySet, MemberNotFound
from chalicelib.domain.members import Member, MemberStatus, channel_fields
from chalicelib.settings import get_settings
from chalicelib.store import tiers_repo
from chalicelib.store.errors import condition_failed
from chalicelib.store.models import IdentityModel, MemberModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

MAX_MERGE_HOPS = 8


class AliasTaken(Exception):
    def __init__(self, alias: str) -> None:
        super().__init__(alias)
        self.alias = alias


def get_member(member_id: str) -> Member:
    try:
        return member_from_model(MemberModel.get(member_id, consistent_read=True))
    except MemberModel.DoesNotExist as missing:
        raise MemberNotFound(member_id) from missing


def find_member_ids(aliases: list[str]) -> dict[str, str]:
    """alias → member id for the aliases that exist, in one BatchGetItem."""
    return {item.alias: item.member_id for item in IdentityModel.batch_get(aliases, consistent_read=True)}


def find_member(member_id: str) -> Member | None:
    """The member as stored (merged or not), or None."""
    try:
        return get_member(member_id)
    except MemberNotFound:
        return None


def get_members(member_ids: list[str]) -> list[Member]:
    """The members that exist, in the order asked, in one BatchGetItem (at most 100 ids)."""
    found = {item.member_id: item for item in MemberModel.batch_get(member_ids, consistent_read=True)}
    return [member_from_model(found[member_id]) for member_id in member_ids if member_id in found]


def create_member(member: Member, aliases: list[str]) -> None:
    tx = UnitOfWork(get_settings().region)
    tx.put("member", _member_to_model(member), condition=MemberModel.member_id.does_not_exist())
    for alias in aliases:
        identity = IdentityModel(alias, member_id=member.member_id, created_at=member.created_at)
        tx.put(alias, identity, condition=IdentityModel.alias.does_not_exist())
    try:
        tx.commit()
    except TransactionFailed as failure:
        taken = [alias for alias in aliases if failure.failed(alias)]
        if taken:
            raise AliasTaken(taken[0]) from failure
        raise


def stage_new_member(tx: UnitOfWork, member: Member, aliases: list[str], *, phone_enc: str | None = None) -> None:
    """A new member (tag `member`, with its phone when it has one) and its aliases (each tagged
    by itself), every item put only if absent: for a use case that writes more in the same
    transaction (an import's opening balance, services/imports.py)."""
    item = _member_to_model(member)
    if phone_enc is not None and member.phone_hash is not None:
        item.phone_hash, item.phone_enc, item.phone_masked = member.phone_hash, phone_enc, member.phone_masked
    tx.put("member", item, condition=MemberModel.member_id.does_not_exist())
    for alias in aliases:
        stage_alias(tx, alias, member.member_id, member.created_at)


def stage_alias(tx: UnitOfWork, alias: str, member_id: str, created_at: str) -> None:
    """An alias of the member, put only if no member holds it yet (tag: the alias)."""
    identity = IdentityModel(alias, member_id=member_id, created_at=created_at)
    tx.put(alias, identity, condition=IdentityModel.alias.does_not_exist())


def add_alias(member_id: str, alias: str, created_at: str) -> None:
    """Idempotent: adding an alias the member already has is a no-op. A channel alias also
    fills the member's channel attribute (`union:` → unionid) when it is still empty."""
    identity = IdentityModel(alias, member_id=member_id, created_at=created_at)
    mine = IdentityModel.alias.does_not_exist() | (IdentityModel.member_id == member_id)
    fields = channel_fields([alias])
    if not fields:
        try:
            identity.save(condition=mine)
        except PutError as error:
            if condition_failed(error):
                raise AliasTaken(alias) from error
            raise
        return
    tx = UnitOfWork(get_settings().region)
    tx.put("alias", identity, condition=mine)
    actions = [getattr(MemberModel, name).set(getattr(MemberModel, name) | value) for name, value in fields.items()]
    tx.update("member", MemberModel(member_id), actions=actions, condition=MemberModel.member_id.exists())
    try:
        tx.commit()
    except TransactionFailed as failure:
        if failure.failed("alias"):
            raise AliasTaken(alias) from failure
        if failure.failed("member"):
            raise MemberNotFound(member_id) from failure
        raise


def get_live_member(member_id: str, *, closed_ok: bool = False) -> Member:
    """The member, or the member it was merged into (会员合并): an old token, order or alias
    that still names a merged member reaches the survivor. A closed account (注销) is gone for
    every write that finds members this way (an order by its id earns nothing onto the
    tombstone), except the privacy requests that read it back (`closed_ok`)."""
    member = get_member(member_id)
    for _ in range(MAX_MERGE_HOPS):
        if not member.merged_into:
            if member.closed and not closed_ok:
                raise MemberNotFound(f"{member_id}: account closed")
            return member
        member = get_member(member.merged_into)
    raise MemberNotFound(f"{member_id}: merge chain too long")


def update_profile(member_id: str, nickname: str | None, gender: str | None, birthday: date | None) -> None:
    actions: list[Any] = []
    condition = MemberModel.member_id.exists()
    if nickname is not None:
        actions.append(MemberModel.nickname.set(nickname))
    if gender is not None:
        actions.append(MemberModel.gender.set(gender))
    if birthday is not None:
        actions.append(MemberModel.birthday.set(birthday.isoformat()))
        actions.append(MemberModel.birthday_md.set(birthday.strftime("%m-%d")))
        # Set once: a concurrent PATCH cannot sneak in a second value.
        condition &= MemberModel.birthday.does_not_exist() | (MemberModel.birthday == birthday.isoformat())
    if not actions:
        return
    try:
        MemberModel(member_id).update(actions=actions, condition=condition)
    except UpdateError as error:
        if condition_failed(error):
            get_member(member_id)  # raises MemberNotFound when that was the cause
            raise AlreadySet("birthday can be set only once", field="birthday") from error
        raise


def mark_active(member_id: str, day: date) -> None:
    """Last activity day (drives the dormant job's index). One write, only on a new day."""
    try:
        MemberModel(member_id).update(
            actions=[MemberModel.last_active_on.set(day.isoformat())],
            condition=MemberModel.member_id.exists()
            & (MemberModel.last_active_on.does_not_exist() | (MemberModel.last_active_on < day.isoformat())),
        )
    except UpdateError as error:
        if not condition_failed(error):
            raise


def bind_phone(member: Member, phone_hash: str, phone_enc: str, phone_masked: str, now: str) -> None:
    tx = UnitOfWork(get_settings().region)
    alias = f"phone:{phone_hash}"
    if member.phone_hash != phone_hash:
        identity = IdentityModel(alias, member_id=member.member_id, created_at=now)
        mine = IdentityModel.alias.does_not_exist() | (IdentityModel.member_id == member.member_id)
        tx.put("alias", identity, condition=mine)
    if member.phone_hash and member.phone_hash != phone_hash:
        old = IdentityModel(f"phone:{member.phone_hash}")
        tx.delete("old_alias", old, condition=IdentityModel.member_id == member.member_id)
    tx.update(
        "member",
        MemberModel(member.member_id),
        actions=[
            MemberModel.phone_hash.set(phone_hash),
            MemberModel.phone_enc.set(phone_enc),
            MemberModel.phone_masked.set(phone_masked),
        ],
        condition=MemberModel.member_id.exists(),
    )
    try:
        tx.commit()
    except TransactionFailed as failure:
        if failure.failed("alias"):
            raise AliasTaken(alias) from failure
        if failure.failed("member"):
            raise MemberNotFound(member.member_id) from failure
        raise


def iter_member_ids() -> Iterator[str]:
    """Every member id. A full Scan: for operator tools (reconcile), never for jobs or requests."""
    for item in MemberModel.scan(attributes_to_get=["member_id"]):
        yield item.member_id


def member_from_model(item: MemberModel) -> Member:
    return Member(
        member_id=item.member_id,
        created_at=item.created_at,
        version=int(item.version or 0),
        balance=int(item.balance or 0),
        debt=int(item.debt or 0),
        pending=int(item.pending or 0),
        ledger_seq=int(item.ledger_seq or 0),
        growth=int(item.growth or 0),
        tier_code=item.tier_code,
        nickname=item.nickname,
        gender=item.gender,
        birthday=date.fromisoformat(item.birthday) if item.birthday else None,
        phone_masked=item.phone_masked,
        phone_hash=item.phone_hash,
        unionid=item.unionid,
        mini_openid=item.mini_openid,
        mp_openid=item.mp_openid,
        mp_followed=item.mp_followed,
        work_external_userid=item.work_external_userid,
        work_follow_users=frozenset(item.work_follow_users or ()),
        card_code=item.card_code,
        member_code=item.member_code,
        tags=frozenset(item.tags or ()),
        merged_into=item.merged_into,
        last_active_on=item.last_active_on,
        closed=item.status == MemberStatus.DELETED,
        tier_state=tiers_repo.state_from_model(item),
        recent_adjustments=tuple(
            Grant(str(g["operator"]), float(g["at"]), int(g["points"])) for g in item.recent_adjustments or ()
        ),
    )


def _member_to_model(member: Member) -> MemberModel:
    return MemberModel(
        member.member_id,
        created_at=member.created_at,
        version=member.version,
        balance=member.balance,
        debt=member.debt,
        ledger_seq=member.ledger_seq,
        growth=member.growth,
        tier_code=member.tier_code,
        nickname=member.nickname,
        gender=member.gender,
        birthday=member.birthday.isoformat() if member.birthday else None,
        birthday_md=member.birthday.strftime("%m-%d") if member.birthday else None,
        unionid=member.unionid,
        mini_openid=member.mini_openid,
        mp_openid=member.mp_openid,
        mp_followed=member.mp_followed,
        work_external_userid=member.work_external_userid,
        work_follow_users=set(member.work_follow_users) or None,
        card_code=member.card_code,
        tags=set(member.tags) or None,
        last_active_on=member.last_active_on,
    )
