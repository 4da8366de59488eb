"""Referrals (邀请有礼): binding an invitee to the member whose code they arrived with, and
paying both sides once, in one points transaction.

Hooks: `arrived` (login with an invite code; the official account's `ref_<code>` scene),
`phone_bound` (手机号注册), `merged` (会员合并) never fail their caller (`_quietly`);
`order_recorded` marks the invitee's first order, paid by the job once its window has passed.

The reward (`_pay`) is `points.apply_pair(invitee, referrer)`: both ledger entries derive from
the invitee's id (replays answer with them), and the same transaction moves the record from
the status it was read in to rewarded, puts the person claims (one reward per person as an
invitee, by unionid and phone) and moves the referrer's month counter from what the plan read.
Every plan reads what it conditions on and refuses (the record becomes refused with a reason)
rather than retry a condition that can never hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from chalicelib.clock import iso, local_date
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain import referrals as domain
from chalicelib.domain.errors import DomainError, InvalidInput, MemberNotFound
from chalicelib.domain.ledger import CounterAdd, EntryNote, PointsChange
from chalicelib.domain.members import Member
from chalicelib.domain.points import PointsLot, parse_expiry_policy, split_earning
from chalicelib.domain.referrals import OPEN, Referral, ReferralStatus, RefusalReason, Step
from chalicelib.observability import logger
from chalicelib.services import member_codes, points, programme
from chalicelib.settings import get_settings
from chalicelib.store import counters_repo, members_repo, points_repo, referrals_repo

if TYPE_CHECKING:
    from chalicelib.domain.programme import Programme  # pydantic stays off the cold-start path

REWARDED_EVENT = "referral.rewarded"
ORDER_PREFIX = keys.order_entry("x")[:-1]  # an order's ledger entry: `order:<order id>`


@contextmanager
def _quietly(what: str, member_id: str) -> Iterator[None]:
    """A referral never fails the login, callback or phone binding it rides on: the failure
    is logged, and the next call (a phone re-bound, the daily job) takes it up again."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - the caller's own effect must stand
        logger.warning(f"referral {what} failed", extra={"member_id": member_id, "error": type(error).__name__})


def arrived(member_id: str, invite_code: str | None, now: datetime, *, created: bool, via: str = "login") -> None:
    """A member arrived with an invite code: bound to its referrer if new, once."""
    if not invite_code:
        return
    with _quietly("binding", member_id):
        _bind(member_id, invite_code, now, created=created, via=via)


def arrived_by_scene(member_id: str, scene: str | None, now: datetime, *, created: bool) -> None:
    """The official account's subscribe or SCAN with a `ref_<code>` scene."""
    arrived(member_id, domain.code_from_scene(scene), now, created=created, via="mp")


def phone_bound(member_id: str, now: datetime) -> None:
    """After the phone binding committed: the registration reward, or the one that waited for
    the phone (the first order settled before it was bound)."""
    with _quietly("reward", member_id):
        rules = programme.current()
        if not rules.referral.enabled:
            return
        live = members_repo.get_live_member(member_id).member_id
        referral = referrals_repo.get(live) or (referrals_repo.get(member_id) if live != member_id else None)
        if referral is not None and referral.status in OPEN:
            _advance_or_retry(referral, rules, now)


def merged(merged_id: str, survivor_id: str) -> None:
    """The member merge's hook (会员合并): a merged invitee's referral follows the survivor."""
    with _quietly("move", merged_id):
        referrals_repo.move(merged_id, survivor_id)


def order_recorded(member_id: str, order_id: str, paid_on: date, now: datetime) -> None:
    """After an order's points committed (replays too: it is idempotent). Nothing read when the
    programme pays on registration; else one read, and a conditional write for the invitee's
    first order (due once its return window has passed)."""
    rules = programme.current()
    if not rules.referral.enabled or rules.referral.reward_on != "first_order_settled":
        return
    referral = referrals_repo.get(member_id)
    if referral is None or referral.status != ReferralStatus.BOUND:
        return
    if referrals_repo.mark_due(member_id, order_id, domain.settles_on(paid_on, domain.return_window_days(rules))):
        logger.info("referral due", extra={"member_id": member_id, "order_id": order_id})


def settle_due(invitee_id: str, day: date, now: datetime, rules: Programme) -> None:
    """The referral-rewards job, for one invitee found in the due index on `day`: a first order
    whose window has passed, or a reward that failed before (`_advance_or_retry`)."""
    referral = referrals_repo.get(invitee_id)
    if referral is None or referral.status not in OPEN:
        return
    step = advance(referral, rules, now, day)
    if referral.status != ReferralStatus.DUE and step != Step.PAY:
        referrals_repo.unindex(invitee_id)  # a retry with nothing to pay yet: the phone binding pays it


def _advance_or_retry(referral: Referral, rules: Programme, now: datetime) -> None:
    """A reward that fails (the store busy or down) is left to the job: into the due index."""
    today = local_date(now, get_settings().timezone)
    try:
        advance(referral, rules, now, today)
    except Exception:
        with _quietly("retry", referral.invitee_id):
            referrals_repo.retry_later(referral, today)
        raise


def advance(referral: Referral, rules: Programme, now: datetime, today: date) -> Step:
    """Pays, settles, reopens or leaves an open referral, as domain/referrals.next_step says."""
    kept = None
    if referral.status == ReferralStatus.DUE and referral.settles_on and referral.settles_on <= today:
        kept = _order_kept(referral.first_order_id)
    try:
        invitee = members_repo.get_live_member(referral.invitee_id)
    except MemberNotFound:
        referrals_repo.refuse(referral, RefusalReason.GONE)
        return Step.WAIT
    step = domain.next_step(referral.status, rules.referral.reward_on, bool(invitee.phone_hash), kept)
    if step == Step.PAY:
        _pay(referral, rules, now)
    elif step == Step.SETTLE:
        referrals_repo.settle(referral.invitee_id)
    elif step == Step.REOPEN and referral.first_order_id:
        referrals_repo.reopen(referral.invitee_id, referral.first_order_id)
    return step


def _bind(member_id: str, invite_code: str, now: datetime, *, created: bool, via: str) -> None:
    rules = programme.current()
    if not rules.referral.enabled:
        return
    try:
        code = member_codes.normalise(invite_code, "invite_code")
        referrer = members_repo.get_live_member(member_codes.member_of(code, "invite_code"))
    except DomainError as unknown:
        logger.info("invite code ignored", extra={"member_id": member_id, "reason": unknown.code})
        return
    invitee = members_repo.get_live_member(member_id)
    if not created and not _still_new(invitee, now):
        logger.info("invite code ignored: not a new member", extra={"member_id": invitee.member_id})
        return
    if domain.same_person(invitee, referrer) or _invited_by_chain(referrer.member_id, invitee.member_id):
        logger.info("invite code ignored: self or loop", extra={"member_id": invitee.member_id})
        return
    referral = Referral(invitee.member_id, referrer.member_id, code, via, iso(now))
    if referrals_repo.bind(referral):
        logger.info("referral bound", extra={"member_id": invitee.member_id, "referrer_id": referrer.member_id})
        if rules.referral.reward_on == "registration" and invitee.phone_hash:
            _advance_or_retry(referral, rules, now)


def _still_new(member: Member, now: datetime) -> bool:
    """Joined less than a day ago and no order yet (its ledger is short: read only then)."""
    if not domain.is_new(member, now):
        return False
    entries = points_repo.iter_member_entries(member.member_id) if member.ledger_seq else iter(())
    return not any(entry.entry_id.startswith(ORDER_PREFIX) for entry in entries)


def _invited_by_chain(referrer_id: str, invitee_id: str) -> bool:
    """A loop: the referrer was invited (directly or up the chain) by the invitee."""
    current = referrer_id
    for _ in range(domain.MAX_CHAIN):
        record = referrals_repo.get(current)
        if record is None:
            return False
        if record.referrer_id == invitee_id:
            return True
        current = record.referrer_id
    return False


def _order_kept(order_id: str | None) -> bool:
    """The first order is kept unless it was fully refunded (a partial refund keeps it)."""
    entry = points_repo.get_entry(keys.order_entry(order_id)) if order_id else None
    if entry is None:
        return False
    return int(entry.refunded_fen or 0) < int(entry.detail.get("amount_fen", 0))


def _pay(referral: Referral, rules: Programme, now: datetime) -> None:
    request = {"referral": referral.invitee_id, "referrer": referral.referrer_id}
    op = points.operation(keys.key("referral", referral.invitee_id), request, now, key_field="invitee")
    try:
        points.apply_pair(
            referral.invitee_id, referral.referrer_id, op, _planner(op, rules), reads_lots=False, peer_reads_lots=False
        )
        logger.info("referral rewarded", extra={"member_id": referral.invitee_id})
    except domain.ReferralRefused as refused:
        _refuse(referral.invitee_id, refused.reason)
    except MemberNotFound:
        _refuse(referral.invitee_id, RefusalReason.GONE)
    except InvalidInput as one:
        if one.field != "member":  # apply_pair: the invitee was merged into the referrer
            raise
        _refuse(referral.invitee_id, RefusalReason.SELF)
    except domain.ReferralClosed:
        pass  # refused (or rewarded under a replay) meanwhile


def _refuse(invitee_id: str, reason: RefusalReason) -> None:
    current = referrals_repo.get(invitee_id)
    if current is not None and current.status in OPEN and referrals_repo.refuse(current, reason):
        logger.info("referral refused", extra={"member_id": invitee_id, "reason": reason.value})


def _planner(op: points.Operation, rules: Programme) -> points.PairPlanner:
    referral_rules = rules.referral
    expires_on = parse_expiry_policy(rules.points.expiry).expires_on(op.today)
    peer_op = points.operation(keys.key("referral", op.request["referral"], "referrer"), op.request, op.now)
    at = op.now.timestamp()
    zone = ZoneInfo(get_settings().timezone)
    until = datetime.combine(domain.next_month(op.today), time(), zone).timestamp()

    def plan(
        invitee: Member, _lots: list[PointsLot], referrer: Member, _peer_lots: list[PointsLot]
    ) -> tuple[PointsChange, PointsChange]:
        current = referrals_repo.get(op.request["referral"])
        if current is None or current.status not in OPEN or not invitee.phone_hash:
            raise domain.ReferralClosed("not open")
        if domain.same_person(invitee, referrer):
            raise domain.ReferralRefused(RefusalReason.SELF)
        claims = domain.person_claims(invitee)
        if referrals_repo.claimed(claims):
            raise domain.ReferralRefused(RefusalReason.PERSON)
        counter_id = domain.month_counter(referrer.member_id, op.today)
        count = counters_repo.read(counter_id, at)
        read_total = count.total if count else 0
        if read_total >= referral_rules.per_referrer_month:
            raise domain.ReferralRefused(RefusalReason.CAP)
        mine = _earning(op, invitee, referral_rules.invitee_points, expires_on, {"role": "invitee"})
        theirs = _earning(peer_op, referrer, referral_rules.referrer_points, expires_on, {"role": "referrer"})
        stamp, paid = iso(op.now), (referral_rules.referrer_points, referral_rules.invitee_points)
        mine.counter_adds = (CounterAdd(counter_id, 1, read_total, until, at),)
        mine.joins = (
            lambda tx: referrals_repo.stage_rewarded(tx, current, stamp, *paid),
            lambda tx: referrals_repo.stage_claims(tx, claims),
        )
        return mine, theirs

    return plan


def _earning(
    op: points.Operation, member: Member, amount: int, expires_on: date, detail: dict[str, Any]
) -> PointsChange:
    """One side's reward: repays debt first, the rest into the lot of the programme's expiry."""
    repaid, into_lot = split_earning(amount, member.debt)
    change = points.change(
        op,
        member,
        kinds.REFERRAL,
        amount,
        new_debt=member.debt - repaid,
        lot_adds={expires_on: into_lot} if into_lot else {},
        note=EntryNote(reason="referral", detail=detail),
    )
    entry = change.entry
    change.events = (
        points.entry_event(entry, REWARDED_EVENT, {"points": amount, "balance": entry.balance_after, **detail}),
    )
    return change


def overview(member_id: str, now: datetime, limit: int, cursor: str | None) -> domain.Overview:
    """The member is the token's (a merged member's token shows its survivor); the page costs
    one Query, one BatchGetItem of the invitees and one read of the month's counter."""
    member = members_repo.get_live_member(member_id)
    rules = programme.current()
    code = member_codes.code_of(member.member_id, now)
    records, next_cursor = referrals_repo.of_referrer(member.member_id, limit, cursor)
    found = {m.member_id: m for m in members_repo.get_members([r.invitee_id for r in records])} if records else {}
    today = local_date(now, get_settings().timezone)
    count = counters_repo.read(domain.month_counter(member.member_id, today), now.timestamp())
    invitees = [domain.invitee(record, found.get(record.invitee_id)) for record in records]
    return domain.Overview(code, rules, today.strftime("%Y-%m"), count.total if count else 0, invitees, next_cursor)
