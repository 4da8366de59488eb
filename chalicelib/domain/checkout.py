"""Checkout (收银结算) for a POS or mall server: what an order costs a member after the tier's
discount (会员折扣), a coupon (优惠券), a points deduction (积分抵扣) and the wallet (储值), line by
line. Pure rules, no I/O; amounts in integer fen, points in whole points.

The order of the parts is fixed: the tier discount on each line (rounded down to the fen, per
line), then the coupons on the lines in their scope (each coupon's discount spread over its lines
in proportion), then points, then the wallet, then cash (the payable rest). Every part that is
spread over lines is allocated by largest remainder (domain/points.py `allocate`), so a line's
parts always add up to what the line cost and the order's to the order's amount.

A refund of a checked-out order gives back each part of a line in proportion to the share of
the line refunded, on the line's cumulative refunds (like points: after a line is refunded in
whole, in any number of steps, exactly its parts have come back).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from itertools import combinations
from math import gcd
from typing import Any

from chalicelib.domain.coupons import Coupon, Line, can_combine, discount_fen, eligible_fen
from chalicelib.domain.errors import AlreadySet, InvalidInput, NotFound
from chalicelib.domain.points import allocate, clawback_for_refund

MAX_LINES = 100
MAX_COUPONS = 3  # coupons on one order, each of another group and none exclusive


class CheckoutStatus(StrEnum):
    HELD = "held"  # coupon, points and wallet taken; waiting for the WeChat Pay part
    COMPLETED = "completed"  # nothing left to pay online (or paid at the counter): final
    PAID = "paid"  # the WeChat Pay part was paid: final
    CANCELLED = "cancelled"  # everything taken was given back


class PayWith(StrEnum):
    COUNTER = "counter"  # the cash part is paid at the counter (cash, card, the POS's own WeChat Pay)
    WECHAT_PAY = "wechat_pay"  # the member pays the cash part in the mini-program (JSAPI), held till then


class CheckoutNotFound(NotFound):
    code = "checkout_not_found"


class CheckoutRefused(AlreadySet):
    """409: the checkout cannot be made (or changed) as asked; `code` says why."""

    code = "checkout_refused"


@dataclass(frozen=True)
class CheckoutLine:
    line_id: str
    sku: str
    amount_fen: int
    category: str | None = None


@dataclass(frozen=True)
class Deduction:
    """积分抵扣: `points_per_yuan` points are ¥1; at most `max_share_percent` of what is left after
    the discounts; only for a member holding at least `min_balance` points; not with a coupon
    whose stacking forbids points."""

    enabled: bool
    points_per_yuan: int
    max_share_percent: int
    min_balance: int

    @property
    def step(self) -> tuple[int, int]:
        """(points, fen) of the smallest deduction that is whole in both: 100 points/¥1 → (1, 1);
        10 points/¥1 → (1, 10); 250 points/¥1 → (5, 2)."""
        common = gcd(self.points_per_yuan, 100)
        return self.points_per_yuan // common, 100 // common


@dataclass(frozen=True)
class Ask:
    """What the POS asks for: `coupons` None is the best single coupon the member holds, () none."""

    lines: tuple[CheckoutLine, ...]
    amount_fen: int
    coupon_codes: tuple[str, ...] | None
    points: int
    wallet_fen: int


@dataclass(frozen=True)
class LinePlan:
    line_id: str
    amount_fen: int
    tier_fen: int = 0
    coupon_fen: int = 0
    points_fen: int = 0
    points: int = 0
    wallet_fen: int = 0
    refunded_fen: int = 0  # of amount_fen, by refunds so far
    sku: str = ""  # what the line is, for the earning rules on its cash part (/v1/orders)
    category: str | None = None

    @property
    def cash_fen(self) -> int:
        return self.amount_fen - self.tier_fen - self.coupon_fen - self.points_fen - self.wallet_fen

    @property
    def due_fen(self) -> int:
        """What is left to pay after the discounts (the points and wallet come out of it)."""
        return self.amount_fen - self.tier_fen - self.coupon_fen


@dataclass(frozen=True)
class CouponPlan:
    coupon_id: str
    code: str
    name: str
    discount_fen: int
    lines: tuple[str, ...]  # the lines it applied to


@dataclass(frozen=True)
class Plan:
    lines: tuple[LinePlan, ...]
    coupons: tuple[CouponPlan, ...]
    points_max: int  # the largest deduction allowed now, in points
    wallet_usable_fen: int

    def total(self, part: str) -> int:
        return sum(getattr(line, part) for line in self.lines)

    @property
    def cash_fen(self) -> int:
        return self.total("cash_fen")


def check_lines(amount_fen: int, lines: tuple[CheckoutLine, ...]) -> None:
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidInput(f"an order has 1..{MAX_LINES} lines", field="lines")
    if len({line.line_id for line in lines}) != len(lines):
        raise InvalidInput("line ids must be unique", field="lines")
    if sum(line.amount_fen for line in lines) != amount_fen:
        raise InvalidInput("the lines must add up to amount_fen", field="lines")


def tier_discounts(lines: tuple[CheckoutLine, ...], discount_rate: int) -> list[LinePlan]:
    """95折 on each line, the fen off rounded down (the member never pays more than 95%)."""
    return [
        LinePlan(
            line.line_id,
            line.amount_fen,
            line.amount_fen * (100 - discount_rate) // 100,
            sku=line.sku,
            category=line.category,
        )
        for line in lines
    ]


def apply_coupons(
    plans: list[LinePlan], lines: tuple[CheckoutLine, ...], coupons: list[Coupon]
) -> tuple[list[LinePlan], tuple[CouponPlan, ...]]:
    """Each coupon on what its lines still cost, in the order given; a coupon whose threshold is
    not reached is refused (409 naming it): the POS asked for it by name."""
    for first, second in combinations(coupons, 2):  # every pair: A(g1), B(g2), C(g1) do not combine
        if not can_combine(first.terms.stacking, second.terms.stacking):
            raise CheckoutRefused("these coupons do not combine", field="coupon_codes", code="coupons_do_not_combine")
    applied = []
    for coupon in coupons:
        plans, used = _apply(plans, lines, coupon)
        if used is None:
            raise CheckoutRefused(
                f"{coupon.code}: the order does not reach its threshold", field="coupon_codes", code="coupon_threshold"
            )
        applied.append(used)
    return plans, tuple(applied)


def best_coupon(
    plans: list[LinePlan], lines: tuple[CheckoutLine, ...], coupons: list[Coupon]
) -> tuple[list[LinePlan], tuple[CouponPlan, ...]]:
    """The coupon that takes most off (a tie: the one ending first, then the code), or none."""
    best: tuple[int, float, str] | None = None
    chosen: tuple[list[LinePlan], tuple[CouponPlan, ...]] = (plans, ())
    for coupon in coupons:
        after, used = _apply(plans, lines, coupon)
        if used is None or used.discount_fen == 0:
            continue
        rank = (-used.discount_fen, coupon.valid_until.timestamp(), coupon.code)
        if best is None or rank < best:
            best, chosen = rank, (after, (used,))
    return chosen


def _apply(
    plans: list[LinePlan], lines: tuple[CheckoutLine, ...], coupon: Coupon
) -> tuple[list[LinePlan], CouponPlan | None]:
    scope = coupon.terms.scope
    inside = [n for n, line in enumerate(lines) if _in_scope(scope.skus, scope.categories, line)]
    base = [Line(lines[n].sku, plans[n].due_fen, lines[n].category) for n in inside]
    eligible = eligible_fen(replace(scope, skus=(), categories=()), base)
    benefit = coupon.terms.benefit
    if eligible < benefit.threshold_fen or eligible == 0:
        return plans, None
    gift_price = next((plans[n].due_fen for n in inside if lines[n].sku == benefit.gift_sku), 0)
    off = discount_fen(benefit, eligible, gift_price)
    shares = allocate(off, [plans[n].due_fen for n in inside])
    after = list(plans)
    for n, share in zip(inside, shares, strict=True):
        after[n] = replace(after[n], coupon_fen=after[n].coupon_fen + share)
    used = CouponPlan(coupon.coupon_id, coupon.code, coupon.terms.name, off, tuple(lines[n].line_id for n in inside))
    return after, used


def _in_scope(skus: tuple[str, ...], categories: tuple[str, ...], line: CheckoutLine) -> bool:
    return (not skus and not categories) or line.sku in skus or line.category in categories


def points_max(plans: list[LinePlan], rules: Deduction, balance: int, coupons: list[Coupon]) -> int:
    """The largest deduction allowed: the share cap of what is due, the balance, whole steps."""
    if not rules.enabled or balance < max(rules.min_balance, 1):
        return 0
    if any(not coupon.terms.stacking.with_points for coupon in coupons):
        return 0
    step_points, step_fen = rules.step
    due = sum(plan.due_fen for plan in plans)
    by_share = due * rules.max_share_percent // 100 // step_fen
    return min(by_share, balance // step_points) * step_points


def apply_points(plans: list[LinePlan], points: int, most: int, rules: Deduction) -> list[LinePlan]:
    if points == 0:
        return plans
    step_points, step_fen = rules.step
    if points < 0 or points > most or points % step_points:
        raise InvalidInput(f"points is 0..{most} in steps of {step_points}", field="points")
    fen = points // step_points * step_fen
    fen_shares = allocate(fen, [plan.due_fen for plan in plans])
    point_shares = allocate(points, fen_shares)
    return [replace(plan, points_fen=f, points=p) for plan, f, p in zip(plans, fen_shares, point_shares, strict=True)]


def apply_wallet(plans: list[LinePlan], wallet_fen: int, usable: int) -> list[LinePlan]:
    if wallet_fen == 0:
        return plans
    if not 0 < wallet_fen <= usable:
        raise InvalidInput(f"wallet_fen is 0..{usable}", field="wallet_fen")
    shares = allocate(wallet_fen, [plan.due_fen - plan.points_fen for plan in plans])
    return [replace(plan, wallet_fen=share) for plan, share in zip(plans, shares, strict=True)]


def wallet_usable(plans: list[LinePlan], wallet_total: int) -> int:
    return min(wallet_total, sum(plan.due_fen - plan.points_fen for plan in plans))


# --- refunds ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineRefund:
    """What a refund of `fen` of a line gives back, part by part."""

    line_id: str
    fen: int
    points: int
    wallet_fen: int
    cash_fen: int


def refund_line(line: LinePlan, fen: int) -> LineRefund:
    """Each part back in proportion to the line's cumulative refund (`clawback_for_refund`'s
    rule, floor of the cumulative share): a line refunded in whole gives back exactly its parts."""
    if not 0 < fen <= line.amount_fen - line.refunded_fen:
        raise InvalidInput(
            f"line {line.line_id!r}: refundable {line.amount_fen - line.refunded_fen} fen", field="lines"
        )
    before = line.refunded_fen

    def share(part: int) -> int:
        return clawback_for_refund(part, line.amount_fen, before, fen)

    wallet, points = share(line.wallet_fen), share(line.points)
    cash = share(line.cash_fen)
    return LineRefund(line.line_id, fen, points, wallet, cash)


def refund_lines(plans: tuple[LinePlan, ...], wanted: dict[str, int]) -> list[LineRefund]:
    known = {plan.line_id: plan for plan in plans}
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        raise InvalidInput(f"the order has no line {unknown[0]!r}", field="lines")
    return [refund_line(known[line_id], fen) for line_id, fen in sorted(wanted.items()) if fen]


def spread_refund(plans: tuple[LinePlan, ...], fen: int) -> dict[str, int]:
    """A refund naming no lines: spread over what is left of each line, in proportion."""
    left = [plan.amount_fen - plan.refunded_fen for plan in plans]
    if not 0 < fen <= sum(left):
        raise InvalidInput(f"refundable {sum(left)} fen", field="amount_fen")
    return {plan.line_id: share for plan, share in zip(plans, allocate(fen, left), strict=True) if share}


def coupons_back(coupons: tuple[CouponPlan, ...], plans: tuple[LinePlan, ...]) -> list[CouponPlan]:
    """A coupon comes back (by the return policy) once every line it applied to is refunded in whole."""
    done = {plan.line_id for plan in plans if plan.refunded_fen == plan.amount_fen}
    return [coupon for coupon in coupons if set(coupon.lines) <= done]


# --- the checkout as recorded --------------------------------------------------------------


@dataclass(frozen=True)
class TakenPoints:
    """Points taken from one lot (by its expiry date), and how many came back since."""

    expires_on: str
    points: int
    returned: int = 0


@dataclass(frozen=True)
class Checkout:
    order_id: str
    member_id: str
    pos_client: str
    store_id: str | None
    channel: str
    status: CheckoutStatus
    pay_with: PayWith
    amount_fen: int
    lines: tuple[LinePlan, ...]
    coupons: tuple[CouponPlan, ...]
    lots: tuple[TakenPoints, ...]
    wallet_principal: int
    wallet_bonus: int
    fingerprint: str
    created_at: str
    version: int = 1
    expires_at: str | None = None  # a held checkout's hold ends (its WeChat Pay order closes)
    trade_no: str | None = None
    openid: str | None = None
    prepay_id: str | None = None
    pay_timestamp: str | None = None
    pay_nonce: str | None = None
    transaction_id: str | None = None
    paid_at: str | None = None
    cancelled_at: str | None = None
    wallet_returned_principal: int = 0
    wallet_returned_bonus: int = 0
    refunds: tuple[str, ...] = ()  # refund ids applied, in order
    reported: bool = False  # `POST /v1/orders` earned on the cash part (set in that transaction)
    coupons_returned: tuple[str, ...] = ()  # coupon ids refunds gave back (by the return policy)

    @property
    def points(self) -> int:
        return sum(line.points for line in self.lines)

    @property
    def wallet_fen(self) -> int:
        return self.wallet_principal + self.wallet_bonus

    @property
    def cash_fen(self) -> int:
        return sum(line.cash_fen for line in self.lines)

    def total(self, part: str) -> int:
        return sum(getattr(line, part) for line in self.lines)


def to_state(checkout: Checkout) -> dict[str, object]:
    """The stored document: everything but the indexed attributes."""
    state = asdict(checkout)
    for name in ("order_id", "member_id", "pos_client", "status", "version", "created_at"):
        state.pop(name)
    return state


def from_state(
    order_id: str, member_id: str, pos_client: str, status: str, version: int, created_at: str, state: dict[str, Any]
) -> Checkout:
    fields = dict(state)
    fields["lines"] = tuple(LinePlan(**line) for line in fields["lines"])
    fields["coupons"] = tuple(CouponPlan(**{**c, "lines": tuple(c["lines"])}) for c in fields["coupons"])
    fields["lots"] = tuple(TakenPoints(**lot) for lot in fields["lots"])
    fields["refunds"] = tuple(fields.get("refunds") or ())
    fields["coupons_returned"] = tuple(fields.get("coupons_returned") or ())
    fields["pay_with"] = PayWith(fields["pay_with"])
    return Checkout(
        order_id=order_id,
        member_id=member_id,
        pos_client=pos_client,
        status=CheckoutStatus(status),
        version=version,
        created_at=created_at,
        **fields,
    )


def return_points(lots: tuple[TakenPoints, ...], points: int) -> tuple[tuple[TakenPoints, ...], dict[str, int]]:
    """`points` back into the lots they were taken from, in proportion to what each has not had
    back yet (largest remainder): the lots after, and the points per lot (by expiry date)."""
    left = [lot.points - lot.returned for lot in lots]
    if points > sum(left):
        raise ValueError("more points back than were taken")
    shares = allocate(points, left)
    after = tuple(replace(lot, returned=lot.returned + share) for lot, share in zip(lots, shares, strict=True))
    return after, {lot.expires_on: share for lot, share in zip(lots, shares, strict=True) if share}
