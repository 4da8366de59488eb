"""The WeChat member card (微信会员卡) as a projection of our ledger: pure rules.

The card shows three things we own: the points balance (积分, WeChat's `bonus`), the stored
value (储值, WeChat's `balance`, integer fen: the wallet's principal + bonus) and the tier name
(等级, a custom field). WeChat never decides them; we push them. What we pushed last is kept
with the card (store/member_card_repo.py), so a sync knows whether anything changed and by how
much: each update carries the absolute values (what the card shows) *and* the difference from
the last push (what WeChat's change message says). Absolute values make every retry, every
redelivered task and every race between two syncs converge on the truth: the last push wins,
and the last push is always made from a fresh read (services/member_card.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CardStatus(StrEnum):
    """A card's life with us: taken (领卡) but not activated yet, activated (激活: member number
    and opening values pushed), deleted by the member (删卡), or superseded by the survivor's
    own card after a merge (会员合并) — only linked and active cards are synced."""

    LINKED = "linked"
    ACTIVE = "active"
    UNLINKED = "unlinked"
    SUPERSEDED = "superseded"

    @property
    def synced(self) -> bool:
        return self in (CardStatus.LINKED, CardStatus.ACTIVE)


class SyncOutcome(StrEnum):
    """How the last sync ended, as operators read it (GET /admin/members/{id}/card)."""

    ACTIVATED = "activated"
    PUSHED = "pushed"
    UNCHANGED = "unchanged"
    RETRYING = "retrying"  # WeChat busy or unreachable: the worker tries again
    REJECTED = "rejected"  # WeChat refused for good (invalid code, card deleted): not retried


@dataclass(frozen=True)
class CardView:
    """What the card shows (or should show): points, stored value in fen, the tier's name."""

    bonus: int
    balance: int
    level: str


@dataclass(frozen=True)
class CardState:
    """One member's card with us: its code and card_id, what we last pushed (None before the
    activation), a version that guards every record, and the last outcome."""

    member_id: str
    code: str
    card_id: str
    status: CardStatus
    version: int = 0
    pushed: CardView | None = None
    pushed_at: str | None = None
    outcome: SyncOutcome | None = None
    outcome_at: str | None = None
    error: str | None = None
    changed_on: str | None = None  # the business date of the last change (the nightly job's index)
    linked_at: str | None = None


@dataclass(frozen=True)
class CardUpdate:
    """One `updateuser`: the absolute values and the deltas since the last push."""

    view: CardView
    add_bonus: int
    add_balance: int


def plan_update(pushed: CardView | None, truth: CardView, *, force: bool = False) -> CardUpdate | None:
    """The update that brings the card from what we pushed to the truth; None when they agree
    (a redelivered task, a sync of a change already pushed), unless `force` (an operator's
    re-sync, or a sync that lost a race and may have overwritten a newer push)."""
    base = pushed or CardView(0, 0, "")
    if base == truth and not force:
        return None
    return CardUpdate(truth, truth.bonus - base.bonus, truth.balance - base.balance)


def drifted(card: CardView, ours: CardView) -> bool:
    """The nightly check: WeChat's bonus and balance against ours (the level is ours to show,
    WeChat's reply does not carry it)."""
    return (card.bonus, card.balance) != (ours.bonus, ours.balance)
