"""Referrals (邀请有礼): who may be bound to whom, when a bound referral pays, and what a
referrer sees of the friends they invited. Pure rules; services/referrals.py runs them.

A member's invite code (邀请码) is their member code. A new member who arrives with it (the
mini-program share path `pages/index/index?ref=<code>`, or the official account's QR scene
`ref_<code>`) is bound to that referrer, once. The reward (both sides) is paid when the
invitee registers (binds a phone: 手机号注册), or, as the programme says, once the invitee's
first paid order has passed its return window without being fully refunded. Either way the
invitee's phone must be known by then: a person is rewarded once as an invitee, whatever
WeChat account they use, and the phone is what tells a second account of one person apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from chalicelib.domain import keys
from chalicelib.domain.errors import DomainError

if TYPE_CHECKING:
    from chalicelib.domain.members import Member
    from chalicelib.domain.programme import Programme

SHARE_PATH = "pages/index/index?ref={code}"  # the mini-program page a shared card opens
SCENE_PREFIX = "ref_"  # the official account's parametric QR scene: ref_<code>
NEW_MEMBER_HOURS = 24  # an existing member may still be bound this long after joining
MAX_CHAIN = 10  # how far up the referrers a loop is looked for


class ReferralStatus(StrEnum):
    """A referral record's state, stored as is and shown to the referrer."""

    BOUND = "bound"  # waiting for the invitee's registration or first order
    DUE = "due"  # the first order is recorded; it pays once its return window has passed
    SETTLED = "settled"  # the first order has passed its window; waiting for the phone
    REWARDED = "rewarded"
    REFUSED = "refused"  # never pays: `reason` says why


OPEN = frozenset({ReferralStatus.BOUND, ReferralStatus.DUE, ReferralStatus.SETTLED})


class RefusalReason(StrEnum):
    SELF = "self"  # the invitee turned out to be the referrer (same phone, unionid, or merged)
    PERSON = "already_invited"  # this person (unionid or phone) was rewarded as an invitee before
    CAP = "cap_reached"  # the referrer's rewards for the month are used up
    GONE = "member_gone"  # the invitee or the referrer closed their account


class Step(StrEnum):
    """What to do with an open referral now."""

    PAY = "pay"
    WAIT = "wait"
    SETTLE = "settle"  # the order condition is met, the phone is not: mark it settled
    REOPEN = "reopen"  # the first order was fully refunded: wait for the next order


class ReferralRefused(DomainError):
    """The referral never pays (raised in the reward's plan; the record becomes refused)."""

    code = "referral_refused"

    def __init__(self, reason: RefusalReason) -> None:
        super().__init__(reason.value)
        self.reason = reason


class ReferralClosed(DomainError):
    """The record is no longer open (rewarded or refused meanwhile): nothing to pay."""

    code = "referral_closed"


@dataclass(frozen=True)
class Referral:
    """One invitee's referral, keyed by the invitee (so a member is bound once)."""

    invitee_id: str
    referrer_id: str
    code: str
    via: str  # "login" (the share path) or "mp" (the official account's QR code)
    bound_at: str
    status: ReferralStatus = ReferralStatus.BOUND
    reason: RefusalReason | None = None
    first_order_id: str | None = None
    settles_on: date | None = None
    rewarded_at: str | None = None
    referrer_points: int = 0
    invitee_points: int = 0


def share_path(code: str) -> str:
    return SHARE_PATH.format(code=code)


def qr_scene(code: str) -> str:
    return f"{SCENE_PREFIX}{code}"


def code_from_scene(scene: str | None) -> str | None:
    """The invite code of a `ref_<code>` scene; None for any other scene."""
    if not scene or not scene.startswith(SCENE_PREFIX):
        return None
    return scene[len(SCENE_PREFIX) :] or None


def is_new(member: Member, now: datetime) -> bool:
    """Joined less than NEW_MEMBER_HOURS ago (the caller also checks it has no order yet)."""
    created = datetime.fromisoformat(member.created_at)
    return now - created < timedelta(hours=NEW_MEMBER_HOURS)


def same_person(invitee: Member, referrer: Member) -> bool:
    """A self-referral: one member, or two members sharing a unionid or a phone."""
    if invitee.member_id == referrer.member_id:
        return True
    if invitee.unionid and invitee.unionid == referrer.unionid:
        return True
    return bool(invitee.phone_hash) and invitee.phone_hash == referrer.phone_hash


def return_window_days(programme: Programme) -> int:
    """The programme's 冻结期 when it has one (orders are refundable that long), else the
    referral's own window."""
    return programme.points.pending_days or programme.referral.return_window_days


def settles_on(paid_on: date, window_days: int) -> date:
    """The first day the order counts as kept: `window_days` full days after the paid day."""
    return paid_on + timedelta(days=window_days)


def next_step(status: ReferralStatus, reward_on: str, has_phone: bool, order_kept: bool | None) -> Step:
    """`order_kept`: for a due referral whose window has passed, whether the order was not
    fully refunded; None when the order was not looked at (not due, or not yet)."""
    if status not in OPEN:
        return Step.WAIT
    if status == ReferralStatus.SETTLED or (reward_on == "registration" and status == ReferralStatus.BOUND):
        return Step.PAY if has_phone else Step.WAIT
    if status == ReferralStatus.DUE:
        if reward_on == "registration" and has_phone:
            return Step.PAY
        if order_kept is None:
            return Step.WAIT
        if not order_kept:
            return Step.REOPEN
        return Step.PAY if has_phone else Step.SETTLE
    return Step.WAIT


def person_claims(invitee: Member) -> list[str]:
    """The ids under which a person is rewarded once as an invitee: unionid and phone."""
    claims = []
    if invitee.unionid:
        claims.append(keys.key("referral-person", "union", invitee.unionid))
    if invitee.phone_hash:
        claims.append(keys.key("referral-person", "phone", invitee.phone_hash))
    return claims


def month_counter(referrer_id: str, day: date) -> str:
    """The referrer's count of rewarded invitees in the calendar month of `day`."""
    return keys.key("referral-month", referrer_id, day.strftime("%Y-%m"))


def next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def mask_nickname(nickname: str | None) -> str | None:
    """张** : the first character, the rest starred (at least one star)."""
    if not nickname:
        return None
    return nickname[0] + "*" * max(1, len(nickname) - 1)


def mask_phone_for_referrer(phone_masked: str | None) -> str | None:
    """138******34: a friend sees less of the number than its owner (138****1234)."""
    if not phone_masked or len(phone_masked) < 7:
        return None
    return phone_masked[:3] + "*" * (len(phone_masked) - 5) + phone_masked[-2:]


@dataclass(frozen=True)
class Invitee:
    """One line of a referrer's listing: the referral and what they may see of the friend."""

    referral: Referral
    nickname: str | None  # masked: 张**
    phone: str | None  # masked: 138******34


def invitee(record: Referral, member: Member | None) -> Invitee:
    if member is None:
        return Invitee(record, None, None)
    return Invitee(record, mask_nickname(member.nickname), mask_phone_for_referrer(member.phone_masked))


@dataclass(frozen=True)
class Overview:
    """What `GET /v1/me/referrals` shows: my code and where to share it, the rules, this
    month's rewarded invitees against the cap, and a page of my invitees, newest first."""

    code: str
    rules: Programme
    month: str
    month_count: int
    invitees: list[Invitee]
    next_cursor: str | None
