"""Claiming and holding coupons (领券, 我的券), their QR payloads and how the counter finds them.

A claim (or a grant) is one transaction: the coupon, put only if its id — derived from the
claim's idempotency key — is new; its code, only if no coupon holds it; one unit of stock
from a shard, only if the shard has some and is open; the member's count, only below the
template's limit (and the day's, below the daily limit). No oversell, no limit breach, one
coupon per key, whatever races. A claim reads the shards (one BatchGetItem), tries a random
one with stock, then the others; none left is 409 `coupon_sold_out` (已抢光). Any refusal
first looks for the coupon the same key already claimed: a retry answers the first claim.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import datetime
from enum import Enum

from chalicelib.clock import iso, local_date
from chalicelib.domain import coupon_codes, keys
from chalicelib.domain.coupons import (
    Channel,
    Coupon,
    CouponNotFound,
    CouponRefused,
    CouponStatus,
    CouponTemplate,
    TierRestricted,
    applies_at,
    check_claimable,
    check_grantable,
    coupon_window,
)
from chalicelib.domain.errors import Busy, IdempotencyConflict
from chalicelib.retry import backoff
from chalicelib.settings import get_settings
from chalicelib.store import audit_repo, coupons_repo, members_repo
from chalicelib.store import coupon_templates_repo as templates_repo
from chalicelib.store.tx import TransactionFailed, UnitOfWork


class _Outcome(Enum):
    DONE = "done"
    EXISTS = "exists"  # the key claimed before: answer that coupon
    SHARD = "shard"  # that shard is empty (or closed) now: try another
    CODE = "code"  # the code was drawn before: draw again
    BUSY = "busy"  # contention: back off, read again


def coupon_id_for(request: str) -> str:
    """`cp_` + 24 hex of the claim's (or grant's) key: a retry names the same coupon."""
    return "cp_" + hashlib.sha256(request.encode()).hexdigest()[:24]


def claim(template_id: str, member_id: str, request_key: str, now: datetime) -> Coupon:
    """A member claims a coupon (领券), once per Idempotency-Key."""
    member = members_repo.get_live_member(member_id)
    live = member.member_id
    template = templates_repo.get(template_id, consistent=False)
    request = keys.key("coupon-claim", live, request_key)
    coupon_id = coupon_id_for(request)
    try:
        check_claimable(template.definition, template.status, member.tier_code, now)
        return _issue(template, live, (coupon_id, request), "claim", now)
    except (CouponRefused, TierRestricted):
        replay = _replayed(live, coupon_id, template_id)
        if replay is None:
            raise
        return replay


def grant(template_id: str, member_id: str, grant_key: str, now: datetime, *, source: str) -> Coupon:
    """A coupon given (发券) by an operator, a campaign, the birthday job or a tier's benefit
    pack, once per template, member and `grant_key`. The stock, the per-member limits and a
    pause hold as for a claim; the claim window and the tier restriction are the member's
    rules, not the giver's."""
    live = members_repo.get_live_member(member_id).member_id
    template = templates_repo.get(template_id, consistent=False)
    request = keys.key("coupon-grant", template_id, live, grant_key)
    coupon_id = coupon_id_for(request)
    audit_repo.describe(target=f"member:{live}", after={"template_id": template_id, "coupon_id": coupon_id})
    try:
        check_grantable(template.definition, template.status, now)
        return _issue(template, live, (coupon_id, request), f"grant:{source}", now)
    except CouponRefused:
        replay = _replayed(live, coupon_id, template_id)
        if replay is None:
            raise
        return replay


def my_coupons(member_id: str, status: CouponStatus, now: datetime, limit: int) -> list[Coupon]:
    """The member's coupons of one status as of `now` (past the end is expired, before any
    job): unused soonest-ending first, used latest first, expired latest-ended first."""
    live = members_repo.get_live_member(member_id).member_id
    held = coupons_repo.member_coupons(live)
    if status == CouponStatus.UNUSED:
        found = [c for c in held if c.status_at(now) in (CouponStatus.UNUSED, CouponStatus.RETURNED)]
        return sorted(found, key=lambda c: (c.valid_until, c.claimed_at))[:limit]
    found = [c for c in held if c.status_at(now) == status]
    if status == CouponStatus.USED:
        return sorted(found, key=lambda c: c.used_at or "", reverse=True)[:limit]
    return sorted(found, key=lambda c: c.valid_until, reverse=True)[:limit]


def my_coupon(member_id: str, code: str) -> Coupon:
    """The member's own coupon by its code; another member's is 404, as one that does not exist."""
    live = members_repo.get_live_member(member_id).member_id
    coupon = coupons_repo.find_by_code(coupon_codes.normalise(code))
    if coupon is None or coupon.member_id != live:
        raise CouponNotFound("no such coupon of yours", field="code")
    return coupon


def qr(member_id: str, code: str, now: datetime) -> coupon_codes.QrPayload:
    """The QR the member shows at the counter (动态券码): signed, short-lived, refreshed."""
    coupon = my_coupon(member_id, code)
    state = coupon.status_at(now)
    if state in (CouponStatus.USED, CouponStatus.EXPIRED):
        raise CouponRefused(f"the coupon is {state.value}", field="code", code=f"coupon_{state.value}")
    if now < coupon.valid_from:
        raise CouponRefused("the coupon is not valid yet", field="code", code="coupon_not_started")
    if coupon.terms.channel == Channel.MINI_PROGRAM:
        raise CouponRefused("for the mini-program only", field="code", code="coupon_not_in_store")
    settings = get_settings()
    return coupon_codes.sign(
        coupon.code,
        now.timestamp(),
        qr_key(),
        valid=settings.coupon_qr_valid_seconds,
        refresh=settings.coupon_qr_refresh_seconds,
    )


def resolve(payload_or_code: str, now: datetime) -> Coupon:
    """What staff and the POS scan or type: a QR payload (signature and expiry checked, 400
    naming `payload`) or a code (check character, 400 naming `code`) → the coupon, whatever
    its status (the redemption decides what may be done with it)."""
    if coupon_codes.is_payload(payload_or_code):
        field = "payload"
        code = coupon_codes.read(payload_or_code, now.timestamp(), qr_key())
    else:
        field = "code"
        code = coupon_codes.normalise(payload_or_code)
    coupon = coupons_repo.find_by_code(code)
    if coupon is None:
        raise CouponNotFound("no coupon has this code", field=field)
    return coupon


def usable_coupons(member_id: str, now: datetime, store_id: str | None, channel: Channel) -> list[Coupon]:
    """The member's coupons usable now through `channel` (in store: at `store_id`), soonest-ending first."""
    live = members_repo.get_live_member(member_id).member_id
    held = coupons_repo.member_coupons(live)
    usable = [c for c in held if c.usable_at(now) and applies_at(c.terms, channel, store_id)]
    return sorted(usable, key=lambda c: c.valid_until)


def qr_key() -> bytes:
    """COUPON_QR_SECRET, else a key derived from JWT_SECRET (never the JWT key itself)."""
    settings = get_settings()
    if settings.coupon_qr_secret:
        return settings.coupon_qr_secret.encode()
    if not settings.jwt_secret:
        raise RuntimeError("COUPON_QR_SECRET (or JWT_SECRET) must be set to sign coupon QR payloads")
    return hmac.new(settings.jwt_secret.encode(), b"wxmember coupon-qr key", hashlib.sha256).digest()


def _issue(template: CouponTemplate, member_id: str, identity: tuple[str, str], source: str, now: datetime) -> Coupon:
    settings, (coupon_id, request) = get_settings(), identity
    valid_from, valid_until = coupon_window(template.definition.validity, now, settings.timezone)
    code = coupon_codes.new_code()
    for attempt in range(settings.tx_max_attempts):
        shards = templates_repo.load_shards(template.template_id, template.shards)
        if not any(shard.open for shard in shards):
            raise CouponRefused("the template is paused", field="status", code="coupon_paused")
        candidates = [shard.index for shard in shards if shard.open and shard.remaining > 0]
        if not candidates:
            raise CouponRefused("no stock left", field="template_id", code="coupon_sold_out")
        random.shuffle(candidates)
        for index in candidates:
            coupon = Coupon(
                coupon_id,
                member_id,
                template.template_id,
                code,
                template.definition.terms,
                valid_from,
                valid_until,
                CouponStatus.UNUSED,
                iso(now),
                source,
            )
            outcome = _commit(template, coupon, request, index, now)
            if outcome == _Outcome.DONE:
                return coupon
            if outcome == _Outcome.EXISTS:
                return _replay_or_conflict(member_id, coupon_id, template.template_id)
            if outcome == _Outcome.CODE:
                code = coupon_codes.new_code()
                break
            if outcome == _Outcome.BUSY:
                backoff(attempt)
                break
    raise Busy(f"claims on {template.template_id} kept meeting each other")


def _commit(template: CouponTemplate, coupon: Coupon, request: str, shard: int, now: datetime) -> _Outcome:
    settings, definition = get_settings(), template.definition
    tx = UnitOfWork(settings.region)
    coupons_repo.stage_new(tx, coupon, request, settings.timezone)
    templates_repo.stage_take(tx, template.template_id, shard)
    templates_repo.stage_member_count(tx, template.template_id, coupon.member_id, definition.per_member_limit)
    if definition.per_member_daily_limit is not None:
        day = local_date(now, settings.timezone).isoformat()
        templates_repo.stage_member_count(
            tx, template.template_id, coupon.member_id, definition.per_member_daily_limit, day
        )
    try:
        tx.commit()
    except TransactionFailed as failure:
        return _refused(failure, template)
    return _Outcome.DONE


def _refused(failure: TransactionFailed, template: CouponTemplate) -> _Outcome:
    """Which guard held, in the order a member should hear of it."""
    if failure.failed(coupons_repo.COUPON):
        return _Outcome.EXISTS
    limits = template.definition
    if failure.failed(templates_repo.MEMBER):
        raise CouponRefused(
            f"at most {limits.per_member_limit} per member", field="per_member_limit", code="coupon_limit_reached"
        )
    if failure.failed(templates_repo.DAY):
        raise CouponRefused(
            f"at most {limits.per_member_daily_limit} a day",
            field="per_member_daily_limit",
            code="coupon_daily_limit_reached",
        )
    if failure.failed(coupons_repo.CODE):
        return _Outcome.CODE
    if failure.failed_tags("coupon:shard:"):
        return _Outcome.SHARD
    if failure.retryable:
        return _Outcome.BUSY
    raise failure


def _replayed(member_id: str, coupon_id: str, template_id: str) -> Coupon | None:
    found = coupons_repo.get(member_id, coupon_id)
    if found is None:
        return None
    if found.template_id != template_id:
        raise IdempotencyConflict("this Idempotency-Key claimed another coupon", field="Idempotency-Key")
    return found


def _replay_or_conflict(member_id: str, coupon_id: str, template_id: str) -> Coupon:
    replay = _replayed(member_id, coupon_id, template_id)
    if replay is None:  # the guard held, yet nothing is there: a store fault, not the member's
        raise Busy(f"coupon {coupon_id} was refused as a duplicate but is not there")
    return replay
