"""The referrals routes (邀请有礼, issue 14): my invite code, where to share it, and my invitees.

An invite code arrives with the login (`POST /v1/auth/login` `invite_code`) or the official
account's `ref_<code>` QR scene; nothing here binds or pays (services/referrals.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint

from chalicelib.api.auth import MEMBER
from chalicelib.api.routing import Call, lazy_module, route
from chalicelib.clock import utc_now
from chalicelib.texts import text

if TYPE_CHECKING:
    from chalicelib.api import schemas_referrals as s
    from chalicelib.domain.programme import Programme
    from chalicelib.domain.referrals import Invitee
else:
    s = lazy_module("chalicelib.api.schemas_referrals")

bp = Blueprint(__name__)


@route(
    bp,
    "/v1/me/referrals",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    summary="My invite code, share path and QR scene, the rules, and my invitees (masked), newest first",
    query="ReferralsQuery",
    response="ReferralsOut",
    errors=(400, 401, 404),
)
def my_referrals(call: Call) -> s.ReferralsOut:
    from chalicelib.domain.referrals import qr_scene, share_path
    from chalicelib.services import referrals

    found = referrals.overview(call.caller, utc_now(), call.query.limit, call.query.cursor)
    cap = found.rules.referral.per_referrer_month
    return s.ReferralsOut(
        code=found.code,
        share_path=share_path(found.code),
        qr_scene=qr_scene(found.code),
        rules=_rules(found.rules),
        month=s.ReferralMonthOut(month=found.month, rewarded=found.month_count, cap=cap),
        items=[_invitee(item) for item in found.invitees],
        next_cursor=found.next_cursor,
    )


def _rules(programme: Programme) -> s.ReferralRulesOut:
    from chalicelib.domain.referrals import return_window_days

    rules, window = programme.referral, return_window_days(programme)
    words = text(
        f"referral_rules_{rules.reward_on}",
        referrer_points=rules.referrer_points,
        invitee_points=rules.invitee_points,
        days=window,
        cap=rules.per_referrer_month,
    )
    return s.ReferralRulesOut(
        enabled=rules.enabled,
        referrer_points=rules.referrer_points,
        invitee_points=rules.invitee_points,
        reward_on=rules.reward_on,
        return_window_days=window,
        per_referrer_month=rules.per_referrer_month,
        text=words if rules.enabled else text("referral_disabled"),
    )


def _invitee(item: Invitee) -> s.ReferralInviteeOut:
    record = item.referral
    reason = record.reason.value if record.reason else None
    return s.ReferralInviteeOut(
        nickname=item.nickname,
        phone=item.phone,
        bound_at=record.bound_at,
        status=record.status.value,
        status_text=text(f"referral_status_{record.status.value}"),
        reason=record.reason.value if record.reason else None,
        reason_text=text(f"referral_reason_{reason}") if reason else None,
        points=record.referrer_points,
        rewarded_at=record.rewarded_at,
    )
