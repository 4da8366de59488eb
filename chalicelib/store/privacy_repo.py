"""Privacy (个人信息保护): the reads behind a member's export, marketing consent, and the
staged writes that close an account (注销).

Closing stages its writes into units of work the service commits (`services/privacy_deletion.py`):
the member item loses every attribute but the tombstone's (`TOMBSTONE`), identity items are
deleted (each only while it still names the member, so an alias re-registered by someone else
is never touched), subscribe-message consents are dropped. The outbox, which holds a day of
events, is purged of the member's separately: it is not transactional state.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pynamodb.expressions.condition import Condition

from chalicelib.domain import ledger as kinds
from chalicelib.domain.members import KEPT_ON_TOMBSTONE, Member, MemberStatus, PrivacyState
from chalicelib.store import merge_repo, points_repo
from chalicelib.store.members_repo import member_from_model
from chalicelib.store.models import ConsentModel, DeliveryModel, IdentityModel, MemberModel, OutboxModel
from chalicelib.store.tx import UnitOfWork

_PRIVACY = ("status", "deletion", "marketing_consent", "marketing_changed_at")
# Reset to a value that says nothing, so readers of a member never meet a missing one.
RESET = {"gender": "unknown"}
TOMBSTONE = frozenset({*KEPT_ON_TOMBSTONE, *_PRIVACY, *RESET})
# Every other attribute of the member item, including any added later, is erased on closing:
# the tier and activity day too, which takes the tombstone out of the campaign and job indexes.
ERASED = tuple(sorted(name for name in MemberModel.get_attributes() if name not in TOMBSTONE))
# Alias kind → the member attribute that holds its value.
ALIAS_FIELDS = {
    "union": "unionid",
    "mini": "mini_openid",
    "mp": "mp_openid",
    "work": "work_external_userid",
    "phone": "phone_hash",
    "card": "card_code",
}
MAX_MERGED = 50  # accounts merged into one person's: far more than any person has
_BATCH = 25  # BatchWriteItem's limit


def state(member_id: str) -> PrivacyState | None:
    try:
        item = MemberModel.get(
            member_id, consistent_read=True, attributes_to_get=["member_id", "merged_into", *_PRIVACY]
        )
    except MemberModel.DoesNotExist:
        return None
    return _state(item)


def member_and_state(member_id: str) -> tuple[Member, PrivacyState] | None:
    """One read for a sender: the member and whether marketing may reach them."""
    try:
        item = MemberModel.get(member_id, consistent_read=True)
    except MemberModel.DoesNotExist:
        return None
    return member_from_model(item), _state(item)


def _state(item: MemberModel) -> PrivacyState:
    return PrivacyState(
        member_id=item.member_id,
        status=MemberStatus(item.status or MemberStatus.ACTIVE),
        marketing=item.marketing_consent is not False,
        marketing_changed_at=item.marketing_changed_at,
        merged_into=item.merged_into,
        deletion=dict(item.deletion or {}),
    )


def stage_marketing(uow: UnitOfWork, member_id: str, granted: bool, now: str) -> None:
    """Tagged `member`: refused for an unknown or closed account."""
    open_account = MemberModel.member_id.exists() & (MemberModel.status.does_not_exist() | _not_deleted())
    actions = [MemberModel.marketing_consent.set(granted), MemberModel.marketing_changed_at.set(now)]
    uow.update("member", MemberModel(member_id), actions=actions, condition=open_account)


def _not_deleted() -> Condition:
    return MemberModel.status != MemberStatus.DELETED


def member_item(member_id: str) -> dict[str, Any] | None:
    """Every attribute the member item holds, as stored (for the export)."""
    try:
        item = MemberModel.get(member_id, consistent_read=True)
    except MemberModel.DoesNotExist:
        return None
    values: dict[str, Any] = {}
    for name, value in item.attribute_values.items():
        values[name] = sorted(value) if isinstance(value, set) else value
    return values


def identities(member_ids: Iterable[str], known: Iterable[str] = ()) -> list[dict[str, str]]:
    """The identity items (aliases) that name one of the members: found through the
    `member-aliases` index and the aliases the member items hold (`known`), read back
    consistently so that only those still naming them count."""
    owners = set(member_ids)
    aliases = set(known)
    for member_id in owners:
        aliases.update(merge_repo.aliases_of(member_id))
    found = IdentityModel.batch_get(sorted(aliases), consistent_read=True) if aliases else []
    rows = [{"alias": i.alias, "member_id": i.member_id, "created_at": i.created_at} for i in found]
    return sorted((row for row in rows if row["member_id"] in owners), key=lambda row: row["alias"])


def item_aliases(item: dict[str, Any]) -> list[str]:
    """The aliases a member item names (`mini:<openid>`, `phone:<hash>`...)."""
    return [f"{kind}:{item[name]}" for kind, name in ALIAS_FIELDS.items() if item.get(name)]


def consent_templates(member_id: str) -> list[str]:
    return [item.template_id for item in ConsentModel.query(member_id, consistent_read=True)]


def merged_accounts(member_id: str) -> list[str]:
    """Members merged into this one, and into those, found through the merge entries of their
    ledgers (the survivor's `merge:<merged>:in` names the merged member): no scan."""
    found: list[str] = []
    queue = [member_id]
    while queue and len(found) < MAX_MERGED:
        current = queue.pop(0)
        for entry in points_repo.iter_member_entries(current, kind=kinds.MERGE):
            merged = entry.detail.get("merged_id")
            if merged and merged not in found and merged != member_id:
                found.append(str(merged))
                queue.append(str(merged))
    return found


def deliveries(member_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Notifications recorded for the members. The deliveries table has no member index yet:
    a filtered Scan (deliveries live 30 days), for a rare request, never for a job."""
    ids = sorted(set(member_ids))
    rows = [
        {
            "delivery_id": item.delivery_id,
            "member_id": item.member_id,
            "status": item.status,
            "created_at": item.created_at,
            "detail": dict(item.detail or {}),
        }
        for item in DeliveryModel.scan(DeliveryModel.member_id.is_in(*ids))
    ]
    return sorted(rows, key=lambda row: (row["created_at"], row["delivery_id"]))


def stage_release_alias(uow: UnitOfWork, alias: str, owner: str) -> None:
    """The alias is freed: the same WeChat user or phone may register again, as a new member."""
    uow.delete(f"alias:{alias}", IdentityModel(alias), condition=IdentityModel.member_id == owner)


def stage_drop_consent(uow: UnitOfWork, member_id: str, template_id: str) -> None:
    uow.delete(f"consent:{member_id}:{template_id}", ConsentModel(member_id, template_id))


def stage_erase(
    uow: UnitOfWork, member_id: str, status: MemberStatus, deletion: dict[str, Any], *, merged: bool, now: str
) -> None:
    """The member item becomes a tombstone, tagged `member:<id>`. Refused once closed; a merged
    account must still be merged; the final step (status deleted) of a live account requires
    that it holds no points and no debt, so a concurrent earning is never erased unseen."""
    actions: list[Any] = [getattr(MemberModel, name).remove() for name in ERASED]
    actions += [getattr(MemberModel, name).set(value) for name, value in RESET.items()]
    actions += [
        MemberModel.status.set(status),
        MemberModel.deletion.set(deletion),
        MemberModel.marketing_consent.set(False),
        MemberModel.marketing_changed_at.set(now),
    ]
    condition = MemberModel.member_id.exists() & (MemberModel.status.does_not_exist() | _not_deleted())
    if merged:
        condition &= MemberModel.merged_into.exists()
    elif status == MemberStatus.DELETED:
        condition &= (MemberModel.balance == 0) & (MemberModel.debt == 0)
    uow.update(f"member:{member_id}", MemberModel(member_id), actions=actions, condition=condition)


def purge_outbox(member_ids: Iterable[str], values: Iterable[str]) -> int:
    """Deletes the outbox items (a day of events, already relayed) that name the members or
    carry one of their identifiers. A filtered Scan: the outbox expires its items within a day."""
    doomed = list(_outbox_items(sorted(set(member_ids)), sorted(set(values))))
    for start in range(0, len(doomed), _BATCH):
        with OutboxModel.batch_write() as batch:
            for item in doomed[start : start + _BATCH]:
                batch.delete(item)
    return len(doomed)


def _outbox_items(member_ids: list[str], values: list[str]) -> Iterator[OutboxModel]:
    condition: Condition = OutboxModel.member_id.is_in(*member_ids)
    for value in values:
        condition |= OutboxModel.data.contains(value)  # the JSON text holds it as "value"
    yield from OutboxModel.scan(condition, attributes_to_get=["event_id"])
