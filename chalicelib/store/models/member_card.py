"""The WeChat member card (会员卡): per member, the card and what we last pushed to it."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class CardsByChangedDay(GlobalSecondaryIndex["MemberCardModel"]):  # type: ignore[no-untyped-call]
    """Sparse, sharded: the cards whose member changed (or were synced) on a business date,
    `<date>#<0..7>`; the nightly reconciliation reads the last two days only, never the table."""

    class Meta:
        index_name = "changed-day"
        projection = KeysOnlyProjection()

    changed_shard = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute(range_key=True)


class MemberCardModel(Model):
    """A member's card: its code and card_id, its status (domain/member_card.py CardStatus), what
    we pushed last (bonus: points, balance: fen, level: the tier's name) and when, the last
    outcome, and a version that guards every record. The activation form of a card_id is kept
    here too, under `form:<card_id>` (never a member id: those start with `m_`)."""

    class Meta(_Meta):
        table_name = _settings.table_name("member-cards")

    member_id = UnicodeAttribute(hash_key=True)
    code = UnicodeAttribute(null=True)
    card_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    version = NumberAttribute(default=0)
    pushed_bonus = NumberAttribute(null=True)
    pushed_balance = NumberAttribute(null=True)
    pushed_level = UnicodeAttribute(null=True)
    pushed_at = UnicodeAttribute(null=True)
    outcome = UnicodeAttribute(null=True)
    outcome_at = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    linked_at = UnicodeAttribute(null=True)
    changed_on = UnicodeAttribute(null=True)
    changed_shard = UnicodeAttribute(null=True)
    form = JSONAttribute(null=True)  # the `form:<card_id>` item only
    by_changed_day = CardsByChangedDay()
