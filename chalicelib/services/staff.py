"""Store staff (门店员工) in the WeChat Work sidebar: log in with a WeChat Work OAuth code, then
read a customer's card with the coupons they may use in store. A staff token reads customers
and redeems coupons (services/coupon_redemption.py); it never writes points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain.coupons import Channel, Coupon
from chalicelib.domain.errors import Forbidden, InvalidWeChatCode, MemberNotFound, WeChatUnavailable
from chalicelib.domain.members import Member
from chalicelib.domain.points import PointsLot
from chalicelib.observability import logger
from chalicelib.security.tokens import issue_token
from chalicelib.services import coupons, members
from chalicelib.store import members_repo
from chalicelib.wechat import clients

STAFF_ROLE = "staff"
# 40029 invalid code, 40163 code already used, 41008 missing code, 42003 code expired.
_INVALID_CODE_ERRCODES = frozenset({40029, 40163, 41008, 42003})


@dataclass(frozen=True)
class StaffLogin:
    token: str
    userid: str
    expires_in: int


@dataclass(frozen=True)
class CustomerView:
    member: Member
    next_expiry: PointsLot | None
    coupons: tuple[Coupon, ...] = ()  # usable in store now (at the staff's store, if known)


def login(code: str, now: datetime) -> StaffLogin:
    """OAuth code → the staff member's userid (auth/getuserinfo) → a staff token."""
    try:
        reply = clients.get_json("work", "cgi-bin/auth/getuserinfo", {"code": code})
    except clients.WeChatApiError as error:
        if error.errcode in _INVALID_CODE_ERRCODES:
            raise InvalidWeChatCode(f"WeChat errcode {error.errcode}", field="code") from None
        logger.warning("WeChat Work getuserinfo failed", extra={"errcode": error.errcode})
        raise WeChatUnavailable(f"WeChat errcode {error.errcode}") from None
    except clients.WeChatUnreachable as error:
        raise WeChatUnavailable(str(error)) from None
    userid = reply.get("userid") or reply.get("UserId")
    if not userid:
        # A WeChat user outside the corporation gets an openid instead: not staff.
        raise Forbidden("the code belongs to someone who is not staff", field="code")
    token, ttl = issue_token(str(userid), STAFF_ROLE, now)
    return StaffLogin(token, str(userid), ttl)


def customer_view(staff_userid: str, external_userid: str, now: datetime, store_id: str | None = None) -> CustomerView:
    """The member behind a WeChat Work external contact (`work:<external_userid>`), for a staff
    member who follows that contact (WeChat Work's follow list, synced by the contact task).
    Anyone else gets 404, as for an unknown contact: staff see only their own customers.
    Their coupons: those usable in store now; those limited to some stores only when the
    staff's store is given and is one of them."""
    alias = f"work:{external_userid}"
    member_id = members_repo.find_member_ids([alias]).get(alias)
    if member_id is None:
        raise MemberNotFound("no member for this external contact", field="external_userid")
    view = members.view(member_id, now)
    if view.member.merged_into:
        # The alias still names a member merged away: show the survivor.
        view = members.view(view.member.merged_into, now)
    if staff_userid not in view.member.work_follow_users:
        logger.info("staff asked for a customer they do not follow", extra={"staff_userid": staff_userid})
        raise MemberNotFound("no customer of yours with this external contact", field="external_userid")
    logger.info("staff viewed a customer", extra={"staff_userid": staff_userid, "member_id": view.member.member_id})
    usable = coupons.usable_coupons(view.member.member_id, now, store_id, Channel.IN_STORE)
    return CustomerView(view.member, view.next_expiry, tuple(usable))
