"""Stored value when an account closes (注销): the member's money first, then the account.

Under the single-purpose prepaid card rules unspent principal (本金) is the member's and must
be refundable, so closing is refused (409) while the wallet holds principal
(`wallet_not_empty`, naming the principal left and the part of it refundable through the top-up
refunds), while a top-up is pending (`wallet_topup_pending`: it may still be paid) or a refund
is under way (`wallet_refund_in_flight`: a CLOSED one would put money back). The member refunds
first (`POST /v1/wallet/topups/{id}/refunds`), then closes the account.

Bonus (赠送金) alone is forfeited: one `forfeit` ledger line in the closing's final transaction,
so each purse still equals Σ its ledger. That transaction also writes each wallet under the
version read (an empty one is created): a top-up racing the closing fails on it, and then
finds the account closed (services/wallet_merge.py `check_holder`).

Accounts merged into the member (会员合并) count as the member's: their wallets (empty once a
merge moved them), their top-ups and their refunds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.clock import iso
from chalicelib.domain.topups import Topup
from chalicelib.domain.wallet import (
    REFUND_WINDOW,
    EntryKind,
    TopupStatus,
    Wallet,
    WalletChange,
    WalletNotEmpty,
)
from chalicelib.store import topups_repo, wallet_repo
from chalicelib.store.tx import UnitOfWork

CLOSED_REF = "close:{member_id}"


@dataclass(frozen=True)
class WalletClosing:
    """What the closing's final transaction stages for the wallets, planned from their reads."""

    wallets: tuple[Wallet, ...]
    at: str

    @property
    def bonus_forfeited(self) -> int:
        return sum(wallet.bonus for wallet in self.wallets)

    @property
    def items(self) -> int:
        """Transaction items: each wallet; for each bonus forfeited its ledger line, and the
        member card's sync event (store/wallet_repo.py stages one when the total moves)."""
        return sum(1 + (2 if wallet.bonus else 0) for wallet in self.wallets)

    def stage(self, tx: UnitOfWork) -> None:
        for wallet in self.wallets:
            detail: dict[str, object] = {"reason": "account_closed"}
            change = WalletChange(EntryKind.FORFEIT, CLOSED_REF.format(member_id=wallet.member_id), bonus=-wallet.bonus,
                                  detail=detail)  # fmt: skip
            wallet_repo.stage_change(tx, wallet, change, self.at, prefix=f"close:{wallet.member_id}:")


def refuse_unless_empty(live: str, merged: list[str], now: datetime) -> None:
    """409 while any of the accounts' money is still the member's to get back."""
    for wallet in _wallets(live, merged):
        if wallet.principal:
            refundable = min(wallet.principal, _refundable([live, *merged], now))
            raise WalletNotEmpty(
                f"principal_fen={wallet.principal} refundable_fen={refundable}: refund the top-ups first",
                field="wallet",
            )
    for member_id in [live, *merged]:
        pending = topups_repo.pending_of_member(member_id)
        if pending:
            amount = sum(topup.amount_fen for topup in pending)
            raise WalletNotEmpty(f"pending_topups={len(pending)} amount_fen={amount}: wait until paid or closed",
                                 field="wallet", code="wallet_topup_pending")  # fmt: skip
        open_refunds = [refund for refund in topups_repo.refunds_of_member(member_id) if not refund.status.final]
        if open_refunds:
            cash = sum(refund.cash_fen for refund in open_refunds)
            raise WalletNotEmpty(f"refunds_in_flight={len(open_refunds)} cash_fen={cash}: wait until they finish",
                                 field="wallet", code="wallet_refund_in_flight")  # fmt: skip
    _refuse_held_checkouts([live, *merged])


def _refuse_held_checkouts(member_ids: list[str]) -> None:
    """A checkout waiting for its WeChat Pay part holds the member's points and wallet money: it
    is paid or cancelled (its hold is minutes long) before the account can close."""
    from chalicelib.domain.checkout import CheckoutStatus
    from chalicelib.store import checkout_repo

    held = [
        c for member_id in member_ids for c in checkout_repo.of_member(member_id) if c.status == CheckoutStatus.HELD
    ]
    if held:
        wallet = sum(c.wallet_fen for c in held)
        raise WalletNotEmpty(f"held_checkouts={len(held)} wallet_fen={wallet}: wait until paid or cancelled",
                             field="wallet", code="checkout_open")  # fmt: skip


def plan(live: str, merged: list[str], now: datetime) -> WalletClosing:
    """The final transaction's wallet writes, from reads made for it: refused (as above) when
    principal or a pending top-up appeared since the check, so it never closes an account
    holding money; the versions read guard it against any change after them."""
    wallets = _wallets(live, merged)
    if any(wallet.principal or wallet.pending_fen for wallet in wallets):
        refuse_unless_empty(live, merged, now)
        raise WalletNotEmpty("pending_fen > 0: wait until the top-ups are paid or closed", field="wallet",
                             code="wallet_topup_pending")  # fmt: skip
    return WalletClosing(tuple(w for w in wallets if w.version or w.member_id == live), iso(now))


def _wallets(live: str, merged: list[str]) -> list[Wallet]:
    return [wallet_repo.get_wallet(member_id) for member_id in [live, *merged]]


def _refundable(member_ids: list[str], now: datetime) -> int:
    """Unspent principal the refund flow can still pay back: paid top-ups within WeChat Pay's
    year, less what their refunds took (the wallet's principal bounds the sum)."""
    return sum(_left(topup, now) for member_id in member_ids for topup in topups_repo.of_member(member_id))


def _left(topup: Topup, now: datetime) -> int:
    if topup.status != TopupStatus.PAID or topup.paid_at is None:
        return 0
    if now - datetime.fromisoformat(topup.paid_at) > REFUND_WINDOW:
        return 0
    return topup.amount_fen - topup.refunded_principal_fen
