"""Stored value (储值): wallets, their ledger, top-ups and refunds through WeChat Pay, and the pay
notifications as received."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class WalletModel(Model):
    """A member's wallet: principal (本金) and bonus (赠送金) balances, the top-ups still pending
    (they count towards the card's limit), the last ledger sequence number, and a version that
    guards every change (never negative: each change is planned from the version it read)."""

    class Meta(_Meta):
        table_name = _settings.table_name("wallets")

    member_id = UnicodeAttribute(hash_key=True)
    principal = NumberAttribute(default=0)
    bonus = NumberAttribute(default=0)
    pending_fen = NumberAttribute(default=0)
    seq = NumberAttribute(default=0)
    version = NumberAttribute(default=0)
    updated_at = UnicodeAttribute(null=True)


class WalletEntryModel(Model):
    """One line of a purse's ledger (principal or bonus): a wallet change writes one per purse it
    moves, numbered by the wallet's sequence, each with that purse's balance after it."""

    class Meta(_Meta):
        table_name = _settings.table_name("wallet-ledger")

    member_id = UnicodeAttribute(hash_key=True)
    seq = NumberAttribute(range_key=True)
    purse = UnicodeAttribute()  # domain/wallet.py Purse
    kind = UnicodeAttribute()  # EntryKind
    delta = NumberAttribute()
    balance_after = NumberAttribute()
    ref = UnicodeAttribute()  # what moved it: `topup:<id>`, `refund:<id>`, `order:<id>`
    created_at = UnicodeAttribute()
    detail = JSONAttribute(null=True)


class TopupsByMember(GlobalSecondaryIndex["TopupModel"]):  # type: ignore[no-untyped-call]
    """A member's top-ups, newest first (pending ones on `GET /v1/wallet`)."""

    class Meta:
        index_name = "member-created"
        projection = AllProjection()

    member_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class TopupsOpen(GlobalSecondaryIndex["TopupModel"]):  # type: ignore[no-untyped-call]
    """Sparse, sharded: pending top-ups by creation time; the settle job reads only those."""

    class Meta:
        index_name = "open-created"
        projection = KeysOnlyProjection()

    open_shard = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class TopupModel(Model):
    """A top-up: our WeChat Pay order (`topup_id` is its out_trade_no). The bonus and the rule it
    came from are fixed when it is created."""

    class Meta(_Meta):
        table_name = _settings.table_name("wallet-topups")

    topup_id = UnicodeAttribute(hash_key=True)
    member_id = UnicodeAttribute()
    openid = UnicodeAttribute()
    amount_fen = NumberAttribute()
    bonus_fen = NumberAttribute()
    rule_code = UnicodeAttribute(null=True)
    programme_version = NumberAttribute(null=True)
    status = UnicodeAttribute()  # TopupStatus
    fingerprint = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = UnicodeAttribute()
    prepay_id = UnicodeAttribute(null=True)
    pay_timestamp = UnicodeAttribute(null=True)  # requestPayment's timeStamp and nonceStr, kept so
    pay_nonce = UnicodeAttribute(null=True)  # a replayed request answers with the same parameters
    transaction_id = UnicodeAttribute(null=True)
    paid_at = UnicodeAttribute(null=True)
    closed_at = UnicodeAttribute(null=True)
    settled_by = UnicodeAttribute(null=True)  # notify | query
    refunded_principal_fen = NumberAttribute(default=0)
    bonus_due_fen = NumberAttribute(default=0)
    open_shard = UnicodeAttribute(null=True)  # set only while pending (the sparse index)
    by_member = TopupsByMember()
    by_open = TopupsOpen()


class RefundsOpen(GlobalSecondaryIndex["WalletRefundModel"]):  # type: ignore[no-untyped-call]
    """Sparse, sharded: refunds WeChat Pay has not finished, by creation time."""

    class Meta:
        index_name = "open-created"
        projection = KeysOnlyProjection()

    open_shard = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class RefundsByMember(GlobalSecondaryIndex["WalletRefundModel"]):  # type: ignore[no-untyped-call]
    """A member's refunds (the privacy export; a support view later)."""

    class Meta:
        index_name = "member-created"
        projection = AllProjection()

    member_id = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class WalletRefundModel(Model):
    """A refund of a top-up (`refund_id` is its out_refund_no): what it took from each purse, the
    bonus it took back in proportion, and the money WeChat Pay pays back."""

    class Meta(_Meta):
        table_name = _settings.table_name("wallet-refunds")

    refund_id = UnicodeAttribute(hash_key=True)
    topup_id = UnicodeAttribute()
    member_id = UnicodeAttribute()
    principal_fen = NumberAttribute()
    bonus_due_fen = NumberAttribute()
    bonus_taken_fen = NumberAttribute()
    cash_fen = NumberAttribute()
    status = UnicodeAttribute()  # RefundStatus
    fingerprint = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    wechat_refund_id = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    open_shard = UnicodeAttribute(null=True)  # set only while not final
    by_open = RefundsOpen()
    by_member = RefundsByMember()


class PayNotificationModel(Model):
    """A WeChat Pay notification as received (its envelope: the resource stays encrypted), under
    its notification id; a resent one finds its first copy."""

    class Meta(_Meta):
        table_name = _settings.table_name("pay-notifications")

    notification_id = UnicodeAttribute(hash_key=True)
    event_type = UnicodeAttribute()
    envelope = UnicodeAttribute()
    received_at = UnicodeAttribute()
    times_received = NumberAttribute(default=1)
    subject = UnicodeAttribute(null=True)  # `topup:<id>` / `refund:<id>`, once decrypted
    expires_at = TTLAttribute(null=True)
