"""The points mall for members (积分商城): the rewards on show with what the member may redeem,
a redemption, and the member's own redemptions.

A redemption is ONE transaction through the points engine (`points.redeem`: the member, the
lots earliest expiry first and the ledger entry `mall:<member>:<Idempotency-Key>`), with,
joined on every attempt of the engine: the reward's units (only while `remaining >=
quantity`, the reward active and at the version its price was read from), the member's count
(moved from what was read: the per-member and per-period limits), the redemption record (put
if new; it names the lots the points came from, for a cancel) and what the reward gives
(services/mall_items.py). All of it is written or none. A reward edited meanwhile is read
again and the redemption planned at its new price; a replay (same key, same request) answers
the first redemption whatever happened since; the same key for another request is 409.

A physical gift with a cash part (积分+现金) is made so too, awaiting its payment; its WeChat
Pay order is placed after the commit, and again by a replay while it is not placed
(services/mall_pay.py: payment, deadline, cancel and refund).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from itertools import count
from typing import Any

from chalicelib.clock import iso, local_date
from chalicelib.domain import keys
from chalicelib.domain.errors import Busy, DomainError
from chalicelib.domain.ledger import TX_MAX_ITEMS, EntryNote, LedgerEntry, PointsChange
from chalicelib.domain.mall import (
    MallNotFound,
    MallRefused,
    MemberCount,
    Reward,
    check_limits,
    check_member,
    check_open,
    check_request,
    check_stock,
    is_visible,
    period_key,
    refusal,
)
from chalicelib.domain.mall_redemptions import Address, Redemption, TakenLot, initial_status, redemption_id
from chalicelib.domain.members import Member, mask_phone
from chalicelib.retry import backoff
from chalicelib.services import mall_items, mall_pay, points, programme
from chalicelib.settings import get_settings
from chalicelib.store import mall_redemptions_repo, mall_repo, members_repo

MAX_SHOWN = 100  # rewards in the mall at once (one BatchGetItem of the member's counts)
_FIXED_ITEMS = 6  # the member, the entry, the reward, the count, the redemption, a member card's sync


@dataclass(frozen=True)
class Offer:
    """A reward as a member browsing the mall sees it: `refusal`, the code a redemption of
    one unit now would meet (None: they may)."""

    reward: Reward
    count: MemberCount
    refusal: str | None


@dataclass(frozen=True)
class Wanted:
    reward_id: str
    quantity: int
    address: Address | None  # with the phone in full, as the member gave it


@dataclass(frozen=True)
class _Read:
    """What a request read before the points engine: the reward (its price, its version) and
    the live member's count of it; the engine's first attempt plans from these."""

    reward: Reward
    member_id: str
    count: MemberCount


class _RewardMoved(DomainError):
    """The reward was edited after its price was read: read it again, plan again."""


def offers(member_id: str, now: datetime) -> list[Offer]:
    """The rewards on show now (their visible window), newest first."""
    member = members_repo.get_live_member(member_id)
    shown = [reward for reward in mall_repo.listing(MAX_SHOWN) if is_visible(reward.definition, now)]
    counts = mall_repo.counts([reward.reward_id for reward in shown], member.member_id)
    minimum = programme.current().points.min_redeem_points
    today = local_date(now, get_settings().timezone)
    return [Offer(r, counts[r.reward_id], _refusal(r, member, counts[r.reward_id], now, minimum, today)) for r in shown]


def _refusal(reward: Reward, member: Member, held: MemberCount, now: datetime, minimum: int, today: Any) -> str | None:
    key = period_key(reward.definition.period, today)
    return refusal(reward, member.tier_code, member.balance, held, now, minimum, key)


def address_of(name: str, phone: str, region: str, detail: str) -> Address:
    return Address(name=name, phone_masked=mask_phone(phone), region=region, detail=detail, phone=phone)


def redeem(member_id: str, wanted: Wanted, idempotency_key: str, now: datetime) -> Redemption:
    """Refusals come in the order the mall lists them (domain/mall.py `refusal`): the reward's
    rules, the member's tier and limits, the stock (已兑完 whatever the balance), then the
    points, before the points engine reads a lot."""
    op = points.operation(keys.key("mall", member_id, idempotency_key), _request(wanted), now)
    attempts = get_settings().tx_max_attempts
    for attempt in range(attempts):
        try:
            reward = mall_repo.get(wanted.reward_id)
            check_open(reward, now)
            check_request(reward.definition, wanted.quantity, wanted.address is not None)
            read = _check_member(member_id, reward, wanted.quantity, op)
            check_stock(reward, wanted.quantity)
            made = _commit(member_id, op, read, wanted)
        except _RewardMoved:
            backoff(attempt)
            continue
        except DomainError:
            replayed = _replayed(op)
            if replayed is None:
                raise
            made = replayed
        return mall_pay.order_payment(made, now)  # outside: its 503 is the caller's to retry
    raise Busy(f"reward {wanted.reward_id} kept changing")


def my_redemptions(member_id: str, limit: int) -> list[Redemption]:
    """Newest first."""
    live = members_repo.get_live_member(member_id).member_id
    found = mall_redemptions_repo.of_member(live)
    return sorted(found, key=lambda redemption: redemption.created_at, reverse=True)[:limit]


def my_redemption(member_id: str, redemption_id_: str) -> Redemption:
    """The member's own; another member's is 404, as one that does not exist."""
    live = members_repo.get_live_member(member_id).member_id
    found = mall_redemptions_repo.get(live, redemption_id_)
    if found is None:
        raise MallNotFound("no such redemption of yours", field="redemption_id")
    return found


def cancel_mine(member_id: str, redemption_id_: str, reason: str | None, now: datetime) -> Redemption:
    """取消兑换: the member's physical gift while it has not shipped (unpaid: its WeChat Pay order
    closed first; paid: its cash refunded)."""
    from chalicelib.services import mall_cancel

    return mall_cancel.cancel(my_redemption(member_id, redemption_id_), "member", reason, now)


def export_rows(member_id: str) -> list[dict[str, Any]]:
    """The member's redemptions for their data export (services/privacy_export.py): the phone
    of an address in full, as the export gives the member's own."""
    from chalicelib.security.phone import decrypt_phone

    rows = []
    for redemption, phone_enc in mall_redemptions_repo.sealed_of_member(member_id):
        row = asdict(redemption) | {"kind": redemption.kind.value, "status": redemption.status.value}
        row["lots"] = [{"expires_on": lot.expires_on.isoformat(), "points": lot.points} for lot in redemption.lots]
        row["cash_fen"] = redemption.cash_fen
        if row["pay"] is not None:  # the payment, without the parameters of a payment session
            row["pay"] = {k: v for k, v in row["pay"].items() if k not in ("prepay_id", "pay_timestamp", "pay_nonce")}
        if row["address"] is not None and phone_enc:
            row["address"]["phone"] = decrypt_phone(phone_enc)
        rows.append(row)
    return rows


def _request(wanted: Wanted) -> dict[str, Any]:
    """What the fingerprint covers: a replay must ask for exactly this."""
    address = wanted.address
    shipped_to = None
    if address is not None:
        shipped_to = {"name": address.name, "phone": address.phone, "region": address.region, "detail": address.detail}
    return {"reward_id": wanted.reward_id, "quantity": wanted.quantity, "address": shipped_to}


def _check_member(member_id: str, reward: Reward, quantity: int, op: points.Operation) -> _Read:
    """The member's tier, minimum balance and limits, from the member and count as read now
    (the engine checks them again on every attempt)."""
    member = members_repo.get_live_member(member_id)
    definition = reward.definition
    check_member(definition, member.tier_code, member.balance, programme.current().points.min_redeem_points)
    mall_pay.check_payable(member, definition.cash_fen)
    held = mall_repo.get_count(reward.reward_id, member.member_id)
    check_limits(definition, held, quantity, period_key(definition.period, op.today))
    return _Read(reward, member.member_id, held)


def _commit(member_id: str, op: points.Operation, read: _Read, wanted: Wanted) -> Redemption:
    reward = read.reward
    definition = reward.definition
    staged: list[tuple[LedgerEntry, Redemption]] = []
    rid = redemption_id(op.entry_id)
    note = EntryNote(
        reason=definition.name,
        detail={"reward_id": reward.reward_id, "redemption_id": rid, "quantity": wanted.quantity},
    )
    decorate = _joining(op, read, wanted, rid, staged)
    entry = points.redeem(member_id, definition.points * wanted.quantity, op, decorate=decorate, note=note)
    if staged and staged[-1][0] is entry:
        return staged[-1][1]
    replayed = _replayed(op)
    if replayed is None:
        raise Busy(f"redemption {rid} is recorded in the ledger but not found")
    return replayed


def _joining(
    op: points.Operation, read: _Read, wanted: Wanted, rid: str, staged: list[tuple[LedgerEntry, Redemption]]
) -> points.Decorator:
    """The first attempt plans from the reward and count already read; a later one (the member
    or the stock moved, a condition failed) reads both again."""
    from chalicelib.security.phone import encrypt_phone

    reward, quantity = read.reward, wanted.quantity
    definition = reward.definition
    minimum = programme.current().points.min_redeem_points
    key = period_key(definition.period, op.today)
    phone = wanted.address.phone if wanted.address is not None else None
    phone_enc = encrypt_phone(phone) if phone else None
    attempts = count()

    def decorate(member: Member, change: PointsChange) -> PointsChange:
        first = next(attempts) == 0
        current = reward if first else mall_repo.get(reward.reward_id)
        if current.version != reward.version:
            raise _RewardMoved(f"{reward.reward_id} is at version {current.version} now")
        check_member(definition, member.tier_code, member.balance, minimum)
        check_stock(current, quantity)
        fresh = first and member.member_id == read.member_id
        held = read.count if fresh else mall_repo.get_count(reward.reward_id, member.member_id)
        check_limits(definition, held, quantity, key)
        given = mall_items.give(definition, reward.reward_id, member.member_id, rid, op.entry_id, op.now)
        _require_fits(change, given.items)
        redemption = _record(op, reward, wanted, (rid, member, key), change, given)

        def stage(tx: Any) -> None:
            mall_repo.stage_take(tx, current, quantity)
            mall_repo.stage_count(tx, reward.reward_id, member.member_id, held, quantity, key)
            mall_redemptions_repo.stage_new(tx, redemption, phone_enc)

        change.joins = (*change.joins, stage, *given.stages)
        staged[:] = [(change.entry, redemption)]
        return change

    return decorate


def _record(
    op: points.Operation,
    reward: Reward,
    wanted: Wanted,
    ids: tuple[str, Member, str],
    change: PointsChange,
    given: mall_items.Given,
) -> Redemption:
    """The redemption as this attempt plans it: the lots its points come from, what it gives,
    the cash part it waits for."""
    (rid, member, key), definition, coupon = ids, reward.definition, given.coupon
    cash = definition.cash_fen * wanted.quantity
    return Redemption(
        redemption_id=rid,
        member_id=member.member_id,
        reward_id=reward.reward_id,
        reward_name=definition.name,
        kind=definition.kind,
        quantity=wanted.quantity,
        points=-change.entry.delta,
        status=initial_status(definition.kind, cash),
        created_at=iso(op.now),
        entry_id=op.entry_id,
        lots=tuple(TakenLot(take.expires_on, take.taken) for take in change.lot_takes),
        coupon_id=coupon.coupon_id if coupon else None,
        coupon_code=coupon.code if coupon else None,
        partner_code=given.partner_code,
        address=_masked(wanted.address),
        period_key=key,
        pay=mall_pay.cash_part(member, cash, rid, op.now),
    )


def _masked(address: Address | None) -> Address | None:
    if address is None:
        return None
    return Address(address.name, address.phone_masked, address.region, address.detail)


def _require_fits(change: PointsChange, given_items: int) -> None:
    """DynamoDB's (and the embedded one's) items per transaction: points scattered over more
    lots than fit are refused, not half written."""
    items = _FIXED_ITEMS + len(change.lot_takes) + len(change.events) + given_items
    if items > TX_MAX_ITEMS:
        raise MallRefused(f"{len(change.lot_takes)} lots to take from", field="quantity", code="mall_too_many_lots")


def _replayed(op: points.Operation) -> Redemption | None:
    """The redemption this operation's key already made (another request under it is 409)."""
    entry = points.replay(op)
    if entry is None:
        return None
    return mall_redemptions_repo.get(entry.member_id, redemption_id(entry.entry_id))
