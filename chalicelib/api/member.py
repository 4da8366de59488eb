"""Mini-program API (`/v1/auth`, `/v1/me`): what a member does from the mini-program."""

from __future__ import annotations

from chalice.app import Blueprint

from chalicelib.api.auth import MEMBER, PUBLIC
from chalicelib.api.lazy_schemas import schemas as s
from chalicelib.api.routing import Call, route
from chalicelib.clock import local_date, utc_now
from chalicelib.domain import ledger as kinds
from chalicelib.domain.ledger import LedgerEntry
from chalicelib.services import gifts, members, points, tiers
from chalicelib.services.ledger import ledger_page
from chalicelib.services.tiers import tier_name
from chalicelib.settings import get_settings
from chalicelib.texts import text

bp = Blueprint(__name__)


@route(
    bp,
    "/v1/auth/login",
    "POST",
    auth_kind=PUBLIC,
    tag="member",
    summary="Log in with a wx.login code",
    body="LoginIn",
    response="LoginOut",
    errors=(400, 503),
)
def login(call: Call) -> s.LoginOut:
    result = members.login(call.body.code, utc_now(), call.body.invite_code)
    return s.LoginOut(token=result.token, member_id=result.member_id, expires_in=result.expires_in)


@route(
    bp,
    "/v1/me",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    summary="My card: profile, tier, points",
    response="MeOut",
    errors=(401, 404),
)
def get_me(call: Call) -> s.MeOut:
    now = utc_now()
    view = members.view(call.caller, now)
    member, upcoming, release = view.member, view.next_expiry, view.next_release
    return s.MeOut(
        member_id=member.member_id,
        nickname=member.nickname,
        gender=member.gender,  # type: ignore[arg-type]
        birthday=member.birthday,
        phone=member.phone_masked,
        tier=s.TierOut(code=member.tier_code, name=tier_name(member.tier_code)),
        points=s.PointsSummaryOut(
            balance=member.balance,
            next_expiry=s.ExpiryOut(date=upcoming.expires_on, points=upcoming.remaining) if upcoming else None,
            pending=member.pending,
            next_release=s.ReleaseOut(date=release.expires_on, points=release.remaining) if release else None,
        ),
        tier_status=tier_status_out(tiers.status(member, local_date(now, get_settings().timezone))),
    )


def tier_status_out(status: tiers.TierStatus) -> s.TierStatusOut:
    benefits, above = status.benefits, status.next_tier
    return s.TierStatusOut(
        window=status.window,  # type: ignore[arg-type]
        growth=status.growth,
        lifetime_growth=status.lifetime_growth,
        next_tier=s.NextTierOut(code=above.code, name=above.name, goal=goal_out(above.goal)) if above else None,
        keep=goal_out(status.keep_goal) if status.keep_goal else None,
        review_on=status.review_on,
        benefits=s.TierBenefitsOut(
            points_multiplier=benefits.points_multiplier if benefits else 100,
            discount_rate=benefits.discount_rate if benefits else 100,
            birthday_points=benefits.birthday_points if benefits else 0,
            perks=list(benefits.perks) if benefits else [],
        ),
    )


def goal_out(goal: tiers.Goal) -> s.GrowthGoalOut:
    return s.GrowthGoalOut(growth=goal.growth, growth_needed=goal.growth_needed, yuan_needed=goal.yuan_needed)


@route(
    bp,
    "/v1/me",
    "PATCH",
    auth_kind=MEMBER,
    tag="member",
    summary="Update nickname, birthday (once), gender",
    body="ProfilePatch",
    response="MeOut",
    errors=(400, 401, 409),
)
def patch_me(call: Call) -> s.MeOut:
    patch: s.ProfilePatch = call.body
    members.update_profile(call.caller, patch.nickname, patch.gender, patch.birthday, utc_now())
    refreshed: s.MeOut = get_me(call)
    return refreshed


@route(
    bp,
    "/v1/me/phone",
    "POST",
    auth_kind=MEMBER,
    tag="member",
    summary="Bind the phone from getPhoneNumber",
    body="PhoneIn",
    response="PhoneOut",
    errors=(400, 401, 409, 503),
)
def bind_phone(call: Call) -> s.PhoneOut:
    return s.PhoneOut(phone=members.bind_phone(call.caller, call.body.code, utc_now()))


@route(
    bp,
    "/v1/me/points/ledger",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    summary="Points history, newest first",
    query="LedgerQuery",
    response="LedgerPageOut",
    errors=(400, 401),
)
def ledger(call: Call) -> s.LedgerPageOut:
    entries, cursor = ledger_page(call.caller, call.query.limit, call.query.cursor)
    return s.LedgerPageOut(items=[ledger_item(entry) for entry in entries], next_cursor=cursor)


@route(
    bp,
    "/v1/me/points/redemptions",
    "POST",
    auth_kind=MEMBER,
    tag="member",
    summary="Spend points (needs an Idempotency-Key header)",
    body="RedemptionIn",
    response="RedemptionOut",
    status=201,
    idempotency_key="required",
    errors=(400, 401, 409, 503),
)
def redeem(call: Call) -> s.RedemptionOut:
    body: s.RedemptionIn = call.body
    entry = points.redeem_for_member(call.caller, body.points, body.reason, str(call.idempotency_key), utc_now())
    return s.RedemptionOut(redemption_id=entry.entry_id, points=-entry.delta, balance=entry.balance_after)


def ledger_item(entry: LedgerEntry) -> s.LedgerEntryOut:
    return s.LedgerEntryOut(
        id=entry.entry_id,
        kind=entry.kind,  # type: ignore[arg-type]
        points=entry.delta,
        pending=int(entry.detail.get("pending", 0)) if entry.kind == kinds.EARN else 0,
        balance_after=entry.balance_after,
        reason=entry.reason,
        created_at=entry.created_at,
        explanation=_explanation(entry),
    )


def _explanation(entry: LedgerEntry) -> str | None:
    """An order's earning, rule by rule, as recorded when it was earned (services/earning.py),
    and when its points are held (冻结期); a release; a gift's other side (services/gifts.py)."""
    detail = entry.detail
    if entry.kind == kinds.RELEASE:
        return text("ledger_release", order_id=detail.get("order_id", ""))
    if entry.kind in (kinds.GIFT_OUT, kinds.GIFT_IN):
        return gifts.explanation(entry)
    if entry.kind in (kinds.CHECKOUT, kinds.CHECKOUT_CANCEL, kinds.CHECKOUT_REFUND):
        return text(f"ledger_{entry.kind}", order_id=detail.get("order_id", ""))
    words = detail.get("explanation_text") if entry.kind == kinds.EARN else None
    if not isinstance(words, str):
        return None
    return words + "，" + text("ledger_pending", release_on=detail["release_on"]) if detail.get("pending") else words


@route(
    bp,
    "/v1/me/code",
    "GET",
    auth_kind=MEMBER,
    tag="member",
    summary="My dynamic member code (动态会员码) for the card's QR and barcode: fetch again after refresh_in",
    response="MemberCodeOut",
    errors=(401, 404, 503),
)
def my_code(call: Call) -> s.MemberCodeOut:
    from datetime import UTC, datetime

    from chalicelib.services import member_code

    signed = member_code.issue(call.caller, utc_now())
    return s.MemberCodeOut(
        payload=signed.payload,
        expires_at=datetime.fromtimestamp(signed.expires_at, UTC),
        refresh_in=signed.refresh_after,
    )
