"""Stored value (储值): a member's wallet holds principal (本金, the money they paid) and bonus
(赠送金, what top-up offers gave them), each with a ledger of its own. Pure rules: how a payment
splits between the two, the prepaid limit, and what a refund of a top-up pays back.

All amounts are integer fen; where a division rounds, the docstring says which way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chalicelib.domain.errors import AlreadySet, Forbidden, InvalidInput, OrderNotFound
from chalicelib.domain.wallet_rules import SpendOrder, TopupOffer, WalletRules

# WeChat Pay refunds an order within a year of its payment, not after.
REFUND_WINDOW = timedelta(days=365)


class Purse(StrEnum):
    PRINCIPAL = "principal"
    BONUS = "bonus"


class EntryKind(StrEnum):
    TOPUP = "topup"  # a paid top-up: principal, and its bonus
    SPEND = "spend"  # a payment (checkout)
    SPEND_RETURN = "spend_return"  # a payment given back (a checkout cancelled or refunded)
    REFUND = "refund"  # a top-up refunded: principal leaves, its bonus is taken back
    REFUND_RETURN = "refund_return"  # a refund WeChat Pay closed: what it took comes back
    MERGE_OUT = "merge_out"  # 会员合并: the merged member's purses leave for the survivor's
    MERGE_IN = "merge_in"  # ... and arrive there (may exceed the card's limit: the money is the member's)
    FORFEIT = "forfeit"  # 注销: bonus left on a closed account (principal must be refunded first)


class TopupStatus(StrEnum):
    PENDING = "pending"  # ordered, waiting for WeChat Pay to confirm the payment
    PAID = "paid"  # credited
    CLOSED = "closed"  # expired or failed unpaid


class RefundStatus(StrEnum):
    REQUESTED = "requested"  # taken from the wallet, not yet accepted by WeChat Pay
    PROCESSING = "processing"
    ABNORMAL = "abnormal"  # WeChat Pay could not pay it out (a closed card): not final
    SUCCESS = "success"
    CLOSED = "closed"  # WeChat Pay gave up: the amounts went back to the wallet

    @property
    def final(self) -> bool:
        return self in (RefundStatus.SUCCESS, RefundStatus.CLOSED)


class WalletDisabled(Forbidden):
    code = "wallet_disabled"


class InsufficientBalance(AlreadySet):
    code = "wallet_insufficient_balance"


class WalletLimitReached(AlreadySet):
    code = "wallet_limit_reached"


class WalletNotEmpty(AlreadySet):
    """An account closing (注销) while the wallet holds principal, a top-up is pending or a refund
    is under way: the member gets their money back first. `code` says which."""

    code = "wallet_not_empty"


class TopupNotFound(OrderNotFound):
    code = "topup_not_found"


class RefundRefused(AlreadySet):
    """`code` says why: nothing refundable, not paid, too old, the quote changed, nothing to pay."""

    code = "refund_refused"


@dataclass(frozen=True)
class Balances:
    principal: int
    bonus: int

    @property
    def total(self) -> int:
        return self.principal + self.bonus


@dataclass(frozen=True)
class Split:
    """How much of a payment (or a refund) each purse gives."""

    principal: int
    bonus: int

    @property
    def total(self) -> int:
        return self.principal + self.bonus


def plan_spend(balances: Balances, amount: int, order: SpendOrder) -> Split:
    """Principal first, bonus first, or in proportion to the two balances; proportional rounds
    the bonus part down (floor(amount × bonus / total)), so the principal part takes the odd fen."""
    if amount < 1:
        raise InvalidInput("a payment is at least 1 fen", field="wallet_fen")
    if amount > balances.total:
        raise InsufficientBalance(f"the wallet holds {balances.total} fen", field="wallet_fen")
    if order == "principal_first":
        principal = min(amount, balances.principal)
        return Split(principal, amount - principal)
    if order == "bonus_first":
        bonus = min(amount, balances.bonus)
        return Split(amount - bonus, bonus)
    bonus = amount * balances.bonus // balances.total
    return Split(amount - bonus, bonus)


def check_topup(rules: WalletRules, offer: TopupOffer, balances: Balances, pending_fen: int) -> None:
    """The amount within the programme's bounds, and the card within its limit: what it holds,
    what pending top-ups will add, and this top-up with its bonus."""
    if not rules.enabled:
        raise WalletDisabled("stored value is not offered now")
    amount = offer.amount_fen
    if not rules.min_topup_fen <= amount <= rules.max_topup_fen:
        bounds = f"{rules.min_topup_fen}..{rules.max_topup_fen}"
        raise InvalidInput(f"a top-up is {bounds} fen", field="amount_fen", code="topup_amount_out_of_range")
    after = balances.total + pending_fen + amount + offer.bonus_fen
    if after > rules.max_balance_fen:
        room = max(0, rules.max_balance_fen - balances.total - pending_fen)
        raise WalletLimitReached(f"the card holds at most {rules.max_balance_fen} fen; room {room}", field="amount_fen")


@dataclass(frozen=True)
class TopupRefunds:
    """A paid top-up and what its refunds took so far (successful or still under way)."""

    amount_fen: int
    bonus_fen: int
    refunded_principal_fen: int = 0
    bonus_due_fen: int = 0  # the proportional bonus those refunds took back (purse + deduction)


@dataclass(frozen=True)
class RefundQuote:
    """A refund of `principal_fen` of a top-up: the bonus that came with it in proportion
    (`bonus_due_fen`) goes back, from the bonus purse as far as it holds it (`bonus_taken_fen`);
    bonus already spent is deducted from the money paid back (`deducted_fen`)."""

    principal_fen: int
    bonus_due_fen: int
    bonus_taken_fen: int
    deducted_fen: int

    @property
    def cash_fen(self) -> int:
        return self.principal_fen - self.deducted_fen

    @property
    def split(self) -> Split:
        """What leaves the wallet."""
        return Split(self.principal_fen, self.bonus_taken_fen)


def refundable_principal(topup: TopupRefunds, balances: Balances) -> int:
    """Only unspent principal: what this top-up still has, and no more than the purse holds."""
    return max(0, min(topup.amount_fen - topup.refunded_principal_fen, balances.principal))


def quote_refund(topup: TopupRefunds, balances: Balances, principal_fen: int | None = None) -> RefundQuote:
    """The bonus due is floor(refunded principal × bonus / amount) over all of the top-up's
    refunds together, less what earlier refunds took: partial refunds round once, not each
    time, and refunding everything takes the whole bonus back exactly."""
    most = refundable_principal(topup, balances)
    if most < 1:
        raise RefundRefused("no unspent principal of this top-up is left", code="refund_nothing_refundable")
    wanted = most if principal_fen is None else principal_fen
    if not 1 <= wanted <= most:
        raise InvalidInput(f"at most {most} fen of this top-up is refundable", field="principal_fen")
    refunded_after = topup.refunded_principal_fen + wanted
    due = refunded_after * topup.bonus_fen // topup.amount_fen - topup.bonus_due_fen
    taken = min(due, balances.bonus)
    quote = RefundQuote(wanted, due, taken, due - taken)
    if quote.cash_fen < 1:
        raise RefundRefused("the bonus spent takes up the whole refund", code="refund_nothing_to_pay")
    return quote


def check_refundable(status: TopupStatus, paid_at: str | None, now: datetime) -> None:
    if status != TopupStatus.PAID or paid_at is None:
        raise RefundRefused("only a paid top-up can be refunded", code="topup_not_paid")
    if now - datetime.fromisoformat(paid_at) > REFUND_WINDOW:
        raise RefundRefused("WeChat Pay refunds within a year of payment", code="refund_window_passed")


def after_refund(topup: TopupRefunds, quote: RefundQuote, sign: int = 1) -> TopupRefunds:
    """The top-up's tallies once the refund is taken (`sign=-1`: given back, a closed refund)."""
    return TopupRefunds(
        topup.amount_fen,
        topup.bonus_fen,
        topup.refunded_principal_fen + sign * quote.principal_fen,
        topup.bonus_due_fen + sign * quote.bonus_due_fen,
    )


@dataclass(frozen=True)
class Wallet:
    """A member's wallet as read; `version` 0 is a wallet never written."""

    member_id: str
    principal: int = 0
    bonus: int = 0
    pending_fen: int = 0
    seq: int = 0
    version: int = 0

    @property
    def balances(self) -> Balances:
        return Balances(self.principal, self.bonus)


@dataclass(frozen=True)
class WalletEntry:
    member_id: str
    seq: int
    purse: Purse
    kind: EntryKind
    delta: int
    balance_after: int
    ref: str
    created_at: str
    detail: dict[str, object]


@dataclass(frozen=True)
class WalletChange:
    """What one use case moves: each purse by a delta (a debit is negative), and the pending
    top-ups' total; `ref` names its cause (`topup:<id>`, `refund:<id>`, `order:<id>`)."""

    kind: EntryKind
    ref: str
    principal: int = 0
    bonus: int = 0
    pending: int = 0
    detail: dict[str, object] | None = None


def apply_change(wallet: Wallet, change: WalletChange, at: str) -> tuple[Wallet, tuple[WalletEntry, ...]]:
    """The wallet after the change and its ledger lines (principal's first, a purse that does not
    move has none); refused when a purse or the pending total would go below zero."""
    principal, bonus = wallet.principal + change.principal, wallet.bonus + change.bonus
    pending = wallet.pending_fen + change.pending
    if principal < 0 or bonus < 0:
        raise InsufficientBalance(f"the wallet holds {wallet.principal} + {wallet.bonus} fen", field="wallet_fen")
    if pending < 0:
        raise ValueError("pending top-ups cannot go below zero")
    entries: list[WalletEntry] = []
    for purse, delta, after in ((Purse.PRINCIPAL, change.principal, principal), (Purse.BONUS, change.bonus, bonus)):
        if delta:
            seq = wallet.seq + len(entries) + 1
            detail = dict(change.detail or {})
            entries.append(WalletEntry(wallet.member_id, seq, purse, change.kind, delta, after, change.ref, at, detail))
    moved = Wallet(wallet.member_id, principal, bonus, pending, wallet.seq + len(entries), wallet.version + 1)
    return moved, tuple(entries)
