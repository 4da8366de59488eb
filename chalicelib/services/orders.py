"""POS / mall orders: paid orders earn points and growth (成长值, whole yuan paid, which may
raise the tier), refunds claw both back. Idempotent on order id (earn) and on refund id
(each refund). Events (`points.earned`, `tier.changed`) go to the outbox with the order.

The programme in force is taken once, at entry: its earning rules (domain/earning.py), points
expiry and growth per yuan. The tier multiplier is the member's tier in the very version the
earning commits against (services/earning.py); an upgrade the order itself earns counts from
the next order. An order reported with lines records each line's points, and a refund by
lines takes back exactly what those lines earned."""

from __future__ import annotations

from dataclasses import InitVar, dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib.clock import local_date, utc_now
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.earning import OrderFacts, OrderLine, check_lines
from chalicelib.domain.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    MemberNotFound,
    OrderNotFound,
    RefundExceedsOrder,
)
from chalicelib.domain.ledger import NO_NOTE, EntryNote, LedgerEntry, PendingMove, PointsChange, RefundMark
from chalicelib.domain.members import Member, normalise_phone
from chalicelib.domain.points import (
    LineTally,
    PointsLot,
    clawback_for_lines,
    clawback_for_refund,
    earning_day,
    parse_expiry_policy,
    plan_clawback,
    split_refund,
)
from chalicelib.domain.tiers import growth_for_amount
from chalicelib.security.phone import phone_hash
from chalicelib.services import earning, member_code, points, programme, referrals, tiers
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, pending_repo, points_repo


@dataclass(frozen=True)
class MemberRef:
    """How the POS names the member. `code` is the card's dynamic code (动态会员码,
    services/member_code.py); an init-only field kept in `__dict__` only when given, so the
    request fingerprint of an order naming the member any other way stays what it was."""

    member_id: str | None = None
    openid: str | None = None
    unionid: str | None = None
    phone: str | None = None
    code: InitVar[str | None] = None

    def __post_init__(self, code: str | None) -> None:
        if code:
            object.__setattr__(self, "code", code)


@dataclass(frozen=True)
class OrderResult:
    order_id: str
    member_id: str
    points_earned: int
    balance: int
    points_pending: int = 0  # of points_earned, held in the return window (冻结期)
    release_on: date | None = None

    @classmethod
    def of(cls, order_id: str, entry: LedgerEntry) -> OrderResult:
        pending = int(entry.detail.get("pending", 0))
        release_on = entry.detail.get("release_on")
        return cls(
            order_id,
            entry.member_id,
            entry.delta + pending,
            entry.balance_after,
            pending,
            date.fromisoformat(release_on) if pending and release_on else None,
        )


@dataclass(frozen=True)
class RefundResult:
    order_id: str
    refund_id: str
    refund_fen: int
    points_reversed: int
    balance: int
    # A checked-out order's refund (services/checkout_refunds.py): what each part gave back.
    cash_fen: int | None = None  # for the POS to pay back (its own cash, card or WeChat Pay)
    wechat_pay_fen: int = 0  # the cash part the member paid through our WeChat Pay order: we refund it
    wallet_fen: int = 0
    points_returned: int = 0
    coupons_returned: tuple[str, ...] = ()


def resolve_member(ref: MemberRef) -> str:
    if ref.member_id:
        return ref.member_id
    code: str | None = ref.__dict__.get("code")  # the init-only field, when given
    if code:  # signed and short-lived: expired or edited is 400 naming member.code
        return member_code.member_of(code, utc_now())
    if ref.openid:
        alias = f"mini:{ref.openid}"
    elif ref.unionid:
        alias = f"union:{ref.unionid}"
    else:
        alias = f"phone:{phone_hash(normalise_phone(ref.phone or ''))}"
    found = members_repo.find_member_ids([alias])
    if alias not in found:
        raise MemberNotFound("no member with that identity", field="member")
    return found[alias]


def record_order(
    order_id: str,
    ref: MemberRef,
    amount_fen: int,
    paid_at: datetime,
    store_id: str | None,
    now: datetime,
    *,
    pos_client: str,
    lines: tuple[OrderLine, ...] = (),
) -> OrderResult:
    """The POS client that reports an order owns it: only it may refund the order. A checked-out
    order (services/checkout.py) earns on its cash part only, line by line as allocated then."""
    rules = programme.current()
    check_lines(amount_fen, lines)
    from chalicelib.services import checkout  # imports this module

    request: dict[str, Any] = {
        "pos_client": pos_client,
        "order_id": order_id,
        "member": ref.__dict__,
        "amount_fen": amount_fen,
        "paid_at": paid_at.isoformat(),
        "store_id": store_id,
    }
    if lines:  # only then: orders reported before lines existed keep their fingerprint
        request["lines"] = [line.__dict__ for line in lines]
    op = points.operation(keys.order_entry(order_id), request, now, key_field="order_id")
    expiry = parse_expiry_policy(rules.points.expiry)
    try:
        paid_on = _paid_day(paid_at, now)
        member_id = resolve_member(ref)
        cash, checked_out = checkout.cash_lines(order_id, member_id, amount_fen, lines, pos_client)
    except DomainError:
        # A retry of a recorded order answers with its recorded result, even when it could not be
        # made today (paid_at has left the backdating window, the member unbound the alias since,
        # its checkout was refunded since).
        existing = points.replay(op)
        if existing is None:
            raise
        return OrderResult.of(order_id, existing)
    lines = cash or lines
    events = _order_events(order_id, amount_fen)
    growth = growth_for_amount(amount_fen) * rules.tier_policy.growth_per_yuan
    note = EntryNote(
        reason="order",
        source=store_id,
        detail={"amount_fen": amount_fen, "growth": growth, "paid_at": paid_at.isoformat(), "pos_client": pos_client},
        refunded_fen=0,
    )
    release_on = paid_on + timedelta(days=rules.points.pending_days)
    plan = earning.OrderEarning(
        rules,
        OrderFacts(amount_fen, paid_on, store_id, lines),
        growth,
        earning_day(paid_on, op.today, expiry),
        expiry,
        release_on if release_on > op.today else None,  # a window already over: spendable now
        note,
        checkout.reported_with(checked_out, events) if checked_out else events,
    )
    entry = earning.earn_order(member_id, op, plan)
    # A referral waiting for the invitee's first order (邀请有礼): after the points, and on a
    # replay too (idempotent), so a POS retry after a failure here completes it.
    referrals.order_recorded(entry.member_id, order_id, paid_on, now)
    return OrderResult.of(order_id, entry)


def _paid_day(paid_at: datetime, now: datetime) -> date:
    """Points are dated by when the order was paid (the brand's calendar), within bounds: a
    paid_at ahead of our clock by more than the skew, or older than the backdating window,
    is refused (the operator adjusts such an order by hand, with its audit trail). A paid_at
    a little ahead of our clock counts as today."""
    settings = get_settings()
    if paid_at > now + timedelta(seconds=settings.order_max_future_seconds):
        raise InvalidInput("paid_at is in the future", field="paid_at")
    if paid_at < now - timedelta(days=settings.order_backdate_days):
        raise InvalidInput(f"paid_at is more than {settings.order_backdate_days} days ago", field="paid_at")
    return min(local_date(paid_at, settings.timezone), local_date(now, settings.timezone))


def _order_events(order_id: str, amount_fen: int) -> points.Decorator:
    """`points.earned` and, when the order raised the tier, `tier.changed` (+ the WeChat Work
    tag task): written to the outbox in the order's own transaction."""

    def decorate(member: Member, change: PointsChange) -> PointsChange:
        entry, staged = change.entry, list(change.events)
        if change.pending_move is not None:  # `points.earned` comes with the release
            data = {
                "points": change.pending_move.points,
                "release_on": entry.detail["release_on"],
                "order_id": order_id,
            }
            staged.append(points.entry_event(entry, "points.pending", data))
        elif entry.delta > 0:
            data = {
                "points": entry.delta,
                "balance": entry.balance_after,
                "order_id": order_id,
                "amount_fen": amount_fen,
            }
            staged.append(points.entry_event(entry, "points.earned", data))
        tier = entry.detail.get("tier")
        if tier:
            after = replace(member, growth=member.growth + change.growth_delta, tier_code=tier["to"])
            staged += tiers.tier_events(entry.entry_id, after, tier["to"], tier["from"], entry.created_at)
        change.events = tuple(staged)
        return change

    return decorate


def refund_order(
    order_id: str,
    refund_id: str | None,
    amount_fen: int | None,
    now: datetime,
    pos_client: str,
    *,
    lines: dict[str, int] | None = None,
) -> RefundResult:
    """A refund without refund_id is the full remaining amount, keyed `full`: retrying it is safe.
    A partial refund (an amount, or lines: line_id → fen) always names its refund_id (the schema
    requires it). Given both, the lines add up to the amount."""
    _check_refund(refund_id, amount_fen, lines)
    refund_key = refund_id or "full"
    checked_out = _checkout_refund(order_id, refund_key, amount_fen, lines, now, pos_client)
    if checked_out is not None:
        return checked_out
    order = points_repo.get_entry(keys.order_entry(order_id))
    if order is None:
        raise OrderNotFound(order_id, field="order_id")
    owner = order.detail.get("pos_client")
    if owner is not None and owner != pos_client:  # orders recorded before clients were kept have none
        raise Forbidden("the order was reported by another POS client", field="order_id")
    request: dict[str, Any] = {"order_id": order_id, "refund_id": refund_key, "amount_fen": amount_fen}
    if lines is not None:  # only then: refunds made before lines existed keep their fingerprint
        request["lines"] = dict(sorted(lines.items()))
    op = points.operation(keys.refund_entry(order_id, refund_key), request, now, key_field="refund_id")
    wanted = sum(lines.values()) if lines is not None else amount_fen
    order_amount = int(order.detail["amount_fen"])
    order_growth = int(order.detail.get("growth", 0))  # orders before growth existed added none

    fresh = [order]  # the first plan uses the order just read; a re-plan reads it again

    def plan(member: Member, lots: list[PointsLot]) -> PointsChange:
        current = fresh.pop() if fresh else points_repo.get_entry(order.entry_id)
        current = current or order
        before = int(current.refunded_fen or 0)
        refund = order_amount - before if wanted is None else wanted
        if refund <= 0 or before + refund > order_amount:
            field = "lines" if lines is not None else "amount_fen"
            raise RefundExceedsOrder(f"refundable {order_amount - before} fen", field=field)
        claw, order_detail, by_line = _clawback(current.detail, before, refund, lines)
        # Growth given back on the same cumulative rule; no downgrade here (annual review).
        growth_back = clawback_for_refund(order_growth, order_amount, before, refund)
        detail: dict[str, Any] = {"refund_fen": refund, "order_id": order_id}
        if by_line:
            detail["lines"] = by_line
        # Inside the return window the order's held points go first: a refund never makes debt of them.
        held = pending_repo.get(order.entry_id) if member.pending else None
        cancelled = min(claw, held.remaining) if held else 0
        cancel = PendingMove(order.entry_id, held.member_id, -cancelled, held.remaining) if held and cancelled else None
        if cancel:
            detail["pending_cancelled"] = cancelled
        return claw_back_change(
            op,
            member,
            lots,
            claw - cancelled,
            RefundMark(order.entry_id, before, before + refund, order_detail),
            growth_delta=-growth_back,
            note=EntryNote(reason="refund", detail=detail),
            pending=cancel,
        )

    entry = points.apply(order.member_id, op, plan, reads_lots=True)
    return _refund_result(order_id, refund_key, entry)


def _check_refund(refund_id: str | None, amount_fen: int | None, lines: dict[str, int] | None) -> None:
    if (amount_fen is not None or lines is not None) and refund_id is None:
        raise InvalidInput("refund_id is required for a partial refund", field="refund_id")
    if lines is not None and amount_fen is not None and sum(lines.values()) != amount_fen:
        raise InvalidInput("the line amounts must add up to amount_fen", field="lines")


def _checkout_refund(
    order_id: str, refund_key: str, amount_fen: int | None, lines: dict[str, int] | None, now: datetime, pos_client: str
) -> RefundResult | None:
    """A checked-out order's refund gives back its wallet, points and coupons too; None: no checkout."""
    from chalicelib.store import checkout_repo

    found = checkout_repo.get(order_id)
    if found is None:
        return None
    from chalicelib.services import checkout_refunds

    return checkout_refunds.refund(found, refund_key, amount_fen, lines, now, pos_client)


def _clawback(
    order: dict[str, Any], before: int, refund: int, lines: dict[str, int] | None
) -> tuple[int, dict[str, Any] | None, dict[str, int]]:
    """The points a refund takes back, the order's detail after it (lines' tallies) and the fen
    it took from each line. An order without lines: the order's proportional rule. With lines:
    each line's own cumulative rule; a refund naming no lines is spread over what is left of
    them in proportion (so a full refund takes back exactly what is left)."""
    recorded = order.get("lines") or []
    if not recorded:
        if lines is not None:
            raise InvalidInput("the order was reported without lines", field="lines")
        return clawback_for_refund(int(order["earned"]), int(order["amount_fen"]), before, refund), None, {}
    tallies = [
        LineTally(line["line_id"], int(line["amount_fen"]), int(line["earned"]), int(line.get("refunded_fen", 0)))
        for line in recorded
    ]
    by_line = lines if lines is not None else split_refund(tallies, refund)
    claw, after = clawback_for_lines(tallies, by_line)
    updated = [{**line, "refunded_fen": tally.refunded_fen} for line, tally in zip(recorded, after, strict=True)]
    return claw, {**order, "lines": updated}, by_line


def _refund_result(order_id: str, refund_key: str, entry: LedgerEntry) -> RefundResult:
    reversed_points = -entry.delta + int(entry.detail.get("pending_cancelled", 0))
    return RefundResult(order_id, refund_key, int(entry.detail["refund_fen"]), reversed_points, entry.balance_after)


def claw_back_change(
    op: points.Operation,
    member: Member,
    lots: list[PointsLot],
    clawed: int,
    refund: RefundMark | None,
    growth_delta: int = 0,
    note: EntryNote = NO_NOTE,
    pending: PendingMove | None = None,
) -> PointsChange:
    """Reversal (退款扣回): may leave a negative balance, recorded as debt, when the
    points were already spent; the ledger entry says so (`debt_after`). `pending`: the order's
    held points (冻结期) the refund cancels besides."""
    if clawed < 0:
        raise InvalidInput("points must not be negative", field="points")
    takes, missing = plan_clawback(lots, clawed)
    return points.change(
        op,
        member,
        kinds.REVERSE,
        -clawed,
        new_debt=member.debt + missing,
        lot_takes=takes,
        refund=refund,
        growth_delta=growth_delta,
        note=note,
        pending=pending,
    )
