"""Members (会员): profile rules and what a member may see of themselves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from chalicelib.domain.adjustments import Grant
from chalicelib.domain.errors import AlreadySet, InvalidInput
from chalicelib.domain.tiers import TierState

GENDERS = ("unknown", "male", "female")

# Alias kind → the member attribute holding its value (`union:<unionid>` → unionid ...).
CHANNEL_FIELDS = {"union": "unionid", "mini": "mini_openid", "mp": "mp_openid", "work": "work_external_userid"}


class MergeStatus(StrEnum):
    """A merge record's state, stored as is and shown to operators."""

    STARTED = "started"
    DONE = "done"


# Old names, still imported by store/merge_repo.py and services/identity.py.
OPERATOR_TRIGGER = "operator"


@dataclass
class Member:
    member_id: str
    created_at: str
    version: int = 0
    balance: int = 0
    debt: int = 0
    pending: int = 0  # order points in their return window (冻结期), not yet spendable
    ledger_seq: int = 0
    growth: int = 0
    tier_code: str = "normal"
    nickname: str | None = None
    gender: str = "unknown"
    birthday: date | None = None
    phone_masked: str | None = None
    phone_hash: str | None = None
    unionid: str | None = None
    mini_openid: str | None = None
    mp_openid: str | None = None
    mp_followed: bool | None = None
    work_external_userid: str | None = None
    work_follow_users: frozenset[str] = frozenset()
    card_code: str | None = None
    member_code: str | None = None  # the public 会员码 / invite code (services/member_codes.py)
    tags: frozenset[str] = frozenset()
    merged_into: str | None = None
    last_active_on: str | None = None
    recent_adjustments: tuple[Grant, ...] = ()  # for the approval limits (domain/adjustments.py)
    closed: bool = False  # 注销: a tombstone (MemberStatus.DELETED), see PrivacyState
    tier_state: TierState = field(default_factory=TierState)  # growth by month, review (保级)


def mask_phone(phone: str) -> str:
    """138****1234: enough for the member and staff to recognise the number."""
    digits = phone[-11:] if len(phone) >= 11 else phone
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def normalise_phone(raw: str) -> str:
    digits = raw.strip().lstrip("+")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not (digits.isascii() and digits.isdigit()) or not 5 <= len(digits) <= 15:  # "²" is a digit to isdigit()
        raise InvalidInput("phone number must be digits", field="phone")
    return digits


def apply_birthday(member: Member, birthday: date, today: date) -> None:
    """A birthday may be set once: it drives birthday gifts, so members cannot move it around."""
    if member.birthday is not None and member.birthday != birthday:
        raise AlreadySet("birthday can be set only once", field="birthday")
    if birthday > today or birthday.year < 1900:
        raise InvalidInput("birthday must be a past date", field="birthday")
    member.birthday = birthday


def apply_gender(member: Member, gender: str) -> None:
    if gender not in GENDERS:
        raise InvalidInput(f"gender must be one of {', '.join(GENDERS)}", field="gender")
    member.gender = gender


def channel_fields(aliases: list[str]) -> dict[str, str]:
    """The member attributes that a set of aliases implies (`union:u1` → unionid u1)."""
    fields: dict[str, str] = {}
    for alias in aliases:
        kind, _, value = alias.partition(":")
        if kind in CHANNEL_FIELDS and value:
            fields.setdefault(CHANNEL_FIELDS[kind], value)
    return fields


@dataclass(frozen=True)
class MergeRecord:
    """The audit entry of a merge (会员合并) of `merge_id` (the merged member) into the survivor."""

    merge_id: str
    survivor_id: str
    status: MergeStatus
    trigger: str
    started_at: str
    operator: str | None = None
    reason: str | None = None
    finished_at: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    approved_by: str | None = None  # the second operator of a merge request

    @property
    def merged_id(self) -> str:
        return self.merge_id


def has_wechat_identity(member: Member) -> bool:
    """A member a WeChat user signed in as or followed with. A phone match alone never hands
    such a member's points to another login (the number may have been recycled, or typed into
    another person's WeChat): a second person approves that merge."""
    channels = (member.unionid, member.mini_openid, member.mp_openid, member.work_external_userid, member.card_code)
    return any(channels)


def may_auto_merge(unionids_a: set[str], unionids_b: set[str]) -> bool:
    """Two members with different unionids are different WeChat users: only an operator may
    merge them. Otherwise a shared alias (phone, openid) proves they are one person."""
    return not (unionids_a and unionids_b and unionids_a.isdisjoint(unionids_b))


def choose_survivor(a: Member, b: Member, a_has_union: bool, b_has_union: bool) -> tuple[Member, Member]:
    """(survivor, merged): the member holding the unionid anchor survives, else the older one."""
    if a_has_union != b_has_union:
        return (a, b) if a_has_union else (b, a)
    return (a, b) if (a.created_at, a.member_id) <= (b.created_at, b.member_id) else (b, a)


class MemberStatus(StrEnum):
    """A member account's state (会员状态), stored on the member item; absent reads as active."""

    ACTIVE = "active"
    DELETING = "deleting"  # closing (注销) under way: personal data going, a re-run resumes it
    DELETED = "deleted"  # closed: a tombstone keeping only the anonymous points bookkeeping


# What a closed account keeps (个人信息删除, PIPL art. 47): its id and the figures the ledger
# reconciles against. Everything else on the member item is personal data and is erased.
KEPT_ON_TOMBSTONE = ("member_id", "created_at", "version", "balance", "debt", "ledger_seq", "growth", "merged_into")


@dataclass(frozen=True)
class PrivacyState:
    """A member's consent to marketing (营销推送同意, separate and revocable under PIPL art. 14)
    and account state. Marketing is consented by default: WeChat already gates every channel by
    the member's own act (accepting a subscribe message, following the official account); this
    is the one switch that withdraws all marketing at once."""

    member_id: str
    status: MemberStatus = MemberStatus.ACTIVE
    marketing: bool = True
    marketing_changed_at: str | None = None
    merged_into: str | None = None
    deletion: dict[str, Any] = field(default_factory=dict)

    @property
    def closed(self) -> bool:
        return self.status == MemberStatus.DELETED
