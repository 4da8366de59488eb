"""The operators' view of a member (会员查询): find one by any of their identities, and read
everything support needs on one page.

Lookups are keyed reads only: a member id is a GetItem; a phone (by its keyed hash), an openid
(mini-program and official account), a unionid or a WeChat Work external_userid is an alias,
read in one BatchGetItem. Nothing here scans a table. The wallet view (储值) follows a merged
member to its survivor. What leaves is masked: phones as
138****1234, WeChat ids shortened, phone hashes never shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain import ledger as kinds
from chalicelib.domain.approvals import Approval, ApprovalStatus
from chalicelib.domain.errors import InvalidInput, MemberNotFound
from chalicelib.domain.ledger import LedgerEntry
from chalicelib.domain.members import Member, MergeRecord, normalise_phone
from chalicelib.domain.points import PointsLot
from chalicelib.domain.topups import Topup, WalletRefund
from chalicelib.domain.wallet import Wallet, WalletEntry
from chalicelib.security.phone import phone_hash
from chalicelib.services import identity, tiers
from chalicelib.store import (
    approvals_repo,
    members_repo,
    merge_repo,
    notify_repo,
    points_repo,
    privacy_repo,
    topups_repo,
    wallet_repo,
)

SEARCH_FIELDS = ("member_id", "phone", "openid", "unionid", "external_userid")
RECENT_ENTRIES = 20
MAX_MERGES = 20
RECENT_TOPUPS = 20  # top-ups, and refunds, on the wallet view
SHOWN_CHARACTERS = 6
# alias prefix → what the console calls it
IDENTITY_KINDS = {
    "union": "unionid",
    "mini": "mini_openid",
    "mp": "mp_openid",
    "work": "external_userid",
    "phone": "phone",
    "card": "card",
}


@dataclass(frozen=True)
class Identity:
    kind: str
    value: str  # shortened or masked


@dataclass(frozen=True)
class NextTier:
    code: str
    name: str
    growth_needed: int


@dataclass(frozen=True)
class MemberMerge:
    role: str  # "survivor" | "merged": this member's side
    record: MergeRecord


@dataclass(frozen=True)
class MemberDetail:
    member: Member
    identities: list[Identity]
    next_tier: NextTier | None
    lots: list[PointsLot]
    ledger: list[LedgerEntry]
    merges: list[MemberMerge]
    consents: dict[str, int]
    pending_approvals: list[Approval]
    wallet: Wallet  # 储值: this member's own (a merged member's is empty once the merge moved it)


@dataclass(frozen=True)
class MemberWallet:
    """`GET /admin/members/{id}/wallet`: the wallet of the member asked about, or of its survivor
    (`merged_into` says so), with the top-ups and refunds of the accounts merged into it."""

    member_id: str  # whose wallet this is
    asked_id: str
    merged_into: str | None
    closed: bool
    wallet: Wallet
    entries: list[WalletEntry]
    next_cursor: str | None
    topups: list[Topup]
    refunds: list[WalletRefund]
    merged_accounts: list[str]


def search(criteria: dict[str, Any]) -> list[Member]:
    """Exactly one criterion; the members it names (usually none or one: an openid may be a
    mini-program one of one member and an official-account one of another)."""
    given = [name for name in SEARCH_FIELDS if criteria.get(name)]
    if len(given) != 1:
        # Two given: the second is the one too many; none: any of them would do.
        field = given[1] if given else "|".join(SEARCH_FIELDS)
        raise InvalidInput(f"give exactly one of {', '.join(SEARCH_FIELDS)}", field=field)
    name = given[0]
    value = str(criteria[name])
    if name == "member_id":
        found = members_repo.find_member(value)
        return [found] if found else []
    aliases = _aliases(name, value)
    owners = members_repo.find_member_ids(aliases)
    member_ids = list(dict.fromkeys(owners[alias] for alias in aliases if alias in owners))
    return members_repo.get_members(member_ids)


def _aliases(name: str, value: str) -> list[str]:
    if name == "phone":
        return [f"phone:{phone_hash(normalise_phone(value))}"]
    if name == "openid":
        return [f"mini:{value}", f"mp:{value}"]
    return [f"{'union' if name == 'unionid' else 'work'}:{value}"]


def detail(member_id: str) -> MemberDetail:
    """The member as stored (a merged member shows `merged_into` and its merge, not its survivor)."""
    member = members_repo.find_member(member_id)
    if member is None:
        raise MemberNotFound(member_id, field="member_id")
    entries, _ = points_repo.list_entries(member.member_id, RECENT_ENTRIES, None)
    pending = [a for a in approvals_repo.for_member(member.member_id) if a.status == ApprovalStatus.PENDING]
    return MemberDetail(
        member=member,
        identities=identities(member),
        next_tier=next_tier(member),
        lots=sorted((lot for lot in points_repo.load_lots(member.member_id) if lot.remaining), key=_expiry),
        ledger=entries,
        merges=merges(member),
        consents=notify_repo.consents(member.member_id),
        pending_approvals=pending,
        wallet=wallet_repo.get_wallet(member.member_id),
    )


def wallet(member_id: str, limit: int, cursor: str | None) -> MemberWallet:
    """Balances, a page of the ledger (the cursor as `GET /v1/wallet`'s), and the latest
    RECENT_TOPUPS top-ups and refunds, newest first, of the member and the accounts merged into
    it: a merged account's top-up is refundable by its survivor. Keyed reads and Queries only."""
    asked = members_repo.find_member(member_id)
    if asked is None:
        raise MemberNotFound(member_id, field="member_id")
    live = members_repo.get_live_member(member_id, closed_ok=True)
    entries, next_cursor = wallet_repo.list_entries(live.member_id, limit, cursor)
    merged = privacy_repo.merged_accounts(live.member_id)
    owners = [live.member_id, *merged]
    topups = [t for owner in owners for t in topups_repo.recent_of_member(owner, RECENT_TOPUPS)]
    refunds = [r for owner in owners for r in topups_repo.recent_refunds_of_member(owner, RECENT_TOPUPS)]
    return MemberWallet(
        member_id=live.member_id,
        asked_id=asked.member_id,
        merged_into=live.member_id if live.member_id != asked.member_id else None,
        closed=live.closed,
        wallet=wallet_repo.get_wallet(live.member_id),
        entries=entries,
        next_cursor=next_cursor,
        topups=sorted(topups, key=lambda t: t.created_at, reverse=True)[:RECENT_TOPUPS],
        refunds=sorted(refunds, key=lambda r: r.created_at, reverse=True)[:RECENT_TOPUPS],
        merged_accounts=merged,
    )


def identities(member: Member) -> list[Identity]:
    shown: list[Identity] = []
    for alias in identity.aliases_of(member):
        prefix, _, value = alias.partition(":")
        kind = IDENTITY_KINDS.get(prefix)
        if kind is None:
            continue
        if kind == "phone":  # the alias holds the keyed hash: never shown
            current = member.phone_masked if value == member.phone_hash else None
            shown.append(Identity(kind, current or "***"))
        else:
            shown.append(Identity(kind, shorten(value)))
    return shown


def shorten(value: str) -> str:
    """`o6_abc…`: enough to tell two ids apart on a screen, not enough to use one."""
    keep = min(SHOWN_CHARACTERS, len(value) // 2)
    return f"{value[:keep]}…"


def next_tier(member: Member) -> NextTier | None:
    ladder = tiers.all_tiers()
    codes = [str(tier["code"]) for tier in ladder]
    position = codes.index(member.tier_code) if member.tier_code in codes else 0
    if position + 1 >= len(ladder):
        return None
    following = ladder[position + 1]
    needed = max(0, int(following["min_growth"]) - member.growth)
    return NextTier(str(following["code"]), str(following["name"]), needed)


def merges(member: Member) -> list[MemberMerge]:
    """As the merged member: its own record (keyed by its id). As the survivor: the records of
    the members whose `merge:<id>:in` entries reached its ledger (a Query of its own ledger)."""
    found: list[MemberMerge] = []
    own = merge_repo.get(member.member_id)
    if own is not None:
        found.append(MemberMerge("merged", own))
    merged_ids: dict[str, None] = {}
    for entry in points_repo.iter_member_entries(member.member_id, kind=kinds.MERGE):
        merged_id = entry.detail.get("merged_id")
        if merged_id and len(merged_ids) < MAX_MERGES:
            merged_ids[str(merged_id)] = None
    for merged_id in merged_ids:
        record = merge_repo.get(merged_id)
        if record is not None:
            found.append(MemberMerge("survivor", record))
    return found


def _expiry(lot: PointsLot) -> Any:
    return lot.expires_on
