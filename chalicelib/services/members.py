"""Member use cases: mini-program login, profile, phone binding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from chalicelib.clock import iso, local_date
from chalicelib.domain.errors import MergeNotAllowed, PhoneBoundElsewhere
from chalicelib.domain.members import (
    Member,
    apply_birthday,
    apply_gender,
    has_wechat_identity,
    mask_phone,
    normalise_phone,
)
from chalicelib.domain.points import PointsLot, next_expiry
from chalicelib.security import phone as phone_crypto
from chalicelib.security.tokens import issue_token
from chalicelib.services import identity, merge_requests, referrals
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, pending_repo, points_repo
from chalicelib.wechat import miniprogram


@dataclass(frozen=True)
class LoginResult:
    token: str
    member_id: str
    expires_in: int
    created: bool


@dataclass(frozen=True)
class MemberView:
    member: Member
    next_expiry: PointsLot | None
    next_release: PointsLot | None = None  # the soonest pending order's points (冻结期) and day


def login(code: str, now: datetime, invite_code: str | None = None) -> LoginResult:
    """wx.login code → member. unionid anchors the member when WeChat gives one; the
    mini-program openid is an alias. A new member is created with both aliases at once."""
    session = miniprogram.code_to_session(code)
    aliases = [f"mini:{session.openid}"]
    if session.unionid:
        aliases.insert(0, f"union:{session.unionid}")
    member_id, created = identity.find_or_create(aliases, now)
    referrals.arrived(member_id, invite_code, now, created=created)  # 邀请有礼: never fails the login
    token, ttl = issue_token(member_id, "member", now)
    return LoginResult(token, member_id, ttl, created)


def view(member_id: str, now: datetime) -> MemberView:
    """A token issued before a merge shows the member it was merged into."""
    member = members_repo.get_live_member(member_id)
    lots = points_repo.load_lots(member.member_id)
    release = None
    if member.pending:  # one more query only for a member with points held
        held = sorted(pending_repo.of_member(member.member_id), key=lambda item: item.release_on)
        if held:
            day = held[0].release_on
            release = PointsLot(day, sum(item.remaining for item in held if item.release_on == day))
    return MemberView(member, next_expiry(lots, local_date(now, get_settings().timezone)), release)


def update_profile(
    member_id: str, nickname: str | None, gender: str | None, birthday: date | None, now: datetime
) -> None:
    member = members_repo.get_live_member(member_id)
    if birthday is not None:
        apply_birthday(member, birthday, local_date(now, get_settings().timezone))
    if gender is not None:
        apply_gender(member, gender)
    members_repo.update_profile(member.member_id, nickname, gender, birthday)


def _refuse_takeover(member: Member, alias: str, now: datetime) -> None:
    owner_id = members_repo.find_member_ids([alias]).get(alias)
    if owner_id is None:
        return
    owner = members_repo.get_live_member(owner_id)
    if owner.member_id == member.member_id or not has_wechat_identity(owner):
        return
    survivor, merged = (
        (owner, member)
        if (owner.created_at, owner.member_id) <= (member.created_at, member.member_id)
        else (member, owner)
    )
    merge_requests.request_merge(
        survivor.member_id,
        merged.member_id,
        requested_by=f"member:{member.member_id}",
        reason="phone binding found the phone on another account",
        trigger="phone",
        now=now,
    )
    raise PhoneBoundElsewhere("the phone belongs to another account; an operator reviews the merge", field="code")


def bind_phone(member_id: str, code: str, now: datetime) -> str:
    masked = _bind_phone(member_id, code, now)
    referrals.phone_bound(member_id, now)  # 手机号注册: the referral reward follows; never fails the binding
    return masked


def _bind_phone(member_id: str, code: str, now: datetime) -> str:
    """Phone via WeChat's getuserphonenumber; stored encrypted, looked up by keyed hash.

    A phone already bound to another member joins the two only when that member has no WeChat
    identity of its own (a member a POS or an import created by phone: this login claims it).
    When it has one (a unionid, an openid, a WeChat Work contact, a card), a phone match alone
    proves nothing: 409 phone_bound_to_other_member, and a merge request waits for an operator."""
    phone = normalise_phone(miniprogram.get_phone_number(code))
    digest = phone_crypto.phone_hash(phone)
    member = members_repo.get_live_member(member_id)
    masked = mask_phone(phone)
    if member.phone_hash == digest:
        return masked
    encrypted = phone_crypto.encrypt_phone(phone)
    try:
        members_repo.bind_phone(member, digest, encrypted, masked, iso(now))
        return masked
    except members_repo.AliasTaken:
        pass
    _refuse_takeover(member, f"phone:{digest}", now)
    try:
        survivor_id = identity.link_or_merge(member.member_id, f"phone:{digest}", now, trigger="phone")
    except MergeNotAllowed as refused:
        raise PhoneBoundElsewhere("phone is bound to another member", field="code") from refused
    survivor = members_repo.get_member(survivor_id)
    if survivor.phone_hash != digest:  # the survivor had another phone: this one is now current
        members_repo.bind_phone(survivor, digest, encrypted, masked, iso(now))
    return masked
