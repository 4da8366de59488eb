"""A member's data export (个人信息查阅、复制, PIPL art. 45): everything held about them.

One section per table that holds member data (`SECTIONS`); a table that holds none says why
(`NOT_MEMBER_DATA`), and a test fails when a table is added to `ALL_MODELS` without either. The
phone number is given in full: it is the member's own. Accounts merged into the member
(会员合并) are the same person: their items, identities and ledgers are included.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain import ledger as kinds
from chalicelib.domain.approvals import Approval
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.coupons import Coupon
from chalicelib.domain.errors import MemberNotFound
from chalicelib.domain.ledger import LedgerEntry
from chalicelib.domain.referrals import Referral
from chalicelib.security.phone import decrypt_phone
from chalicelib.services import privacy
from chalicelib.services.tiers import tier_name
from chalicelib.store import (
    approvals_repo,
    audit_repo,
    checkins_repo,
    checkout_repo,
    coupons_repo,
    member_card_repo,
    merge_repo,
    pending_repo,
    points_repo,
    privacy_repo,
    referrals_repo,
)

# Table (its short name) → the export section holding its items.
SECTIONS = {
    "members": "profile",
    "identities": "identities",
    "points-ledger": "ledger",
    "points-lots": "lots",
    "points-pending": "pending",
    "referrals": "referrals",
    "coupons": "coupons",
    "wallets": "wallet",
    "wallet-ledger": "wallet_ledger",
    "wallet-topups": "topups",
    "wallet-refunds": "topup_refunds",
    "mall-redemptions": "mall_redemptions",  # as invitee, and the invitations the member made (invitees not named)
    "approvals": "approvals",
    "merges": "merges",
    "deliveries": "deliveries",
    "consents": "consents",
    "audit": "audit",
    "checkins": "checkins",  # kept on closing, like the ledger, whose entries name the days anyway
    "member-cards": "member_card",  # the WeChat card (会员卡) and what we last pushed to it
    "checkouts": "checkouts",  # checked-out orders: what each line took of the coupons, points and wallet
}
NOT_MEMBER_DATA = {
    "counters": "limit counters per operator and day, or per operator sign-in: no member's",
    "outbox": "events in transit for a day; what they caused is in the other sections",
    "wechat-tokens": "the apps' access tokens",
    "callbacks": "hashed dedup keys of WeChat callbacks and the replies sent",
    "campaigns": "campaign definitions: audiences are rules, not people",
    "jobs": "scheduled jobs' watermarks",
    "operators": "operator accounts",
    "programme": "the loyalty programme's versions: rules, not people",
    "grants": "bulk grants (批量发放): what was given, by whom; each member's share is in their ledger",
    "grant-chunks": "a bulk grant's work list of member ids; what each member received is in their ledger",
    "coupon-templates": "coupon offers, their stock and per-member claim counts: what a member holds is in coupons",
    "coupon-codes": "coupon code → the coupon it names: the code is shown with the coupon in coupons",
    "mall-rewards": "mall rewards, their stock, code pools and per-member counts: what a member redeemed is in "
    "mall_redemptions",
    "pay-notifications": "WeChat Pay's notification envelopes as received (encrypted), kept to answer resends; "
    "what they settled is in topups",
}
# Bookkeeping, and what other sections show (points, tier): left out of the profile.
_HIDDEN = (
    *("phone_enc", "phone_hash", "version", "ledger_seq", "recent_adjustments", "birthday_md", "deletion"),
    *("balance", "debt", "pending", "growth", "tier_code"),
)
AUDIT_PAGE = 100
AUDIT_YEARS = 3


def export(member_id: str, now: datetime, entry: AuditEntry | None = None) -> dict[str, Any]:
    """The member's data as one JSON document; the audit entry is written before it is returned."""
    live = privacy.live_member_id(member_id)
    item, found = privacy_repo.member_item(live), privacy_repo.state(live)
    if item is None or found is None or found.closed:
        raise MemberNotFound(member_id)  # a closed account holds nothing of the person to export
    merged = privacy_repo.merged_accounts(live)
    everyone = [live, *merged]
    ledger = list(points_repo.iter_member_entries(live))
    document = {
        "member_id": live,
        "generated_at": iso(now),
        "profile": _profile(item),
        "identities": privacy_repo.identities(everyone, privacy_repo.item_aliases(item)),
        "tier": {"code": item.get("tier_code"), "name": _tier_name(item.get("tier_code")), "growth": item["growth"]},
        "points": {
            "balance": int(item["balance"]),
            "debt": int(item["debt"]),
            "pending": int(item.get("pending") or 0),
        },
        "pending": [_held(held) for held in pending_repo.of_member(live)],
        "lots": [{"expires_on": lot.expires_on.isoformat(), "remaining": lot.remaining} for lot in _lots(live)],
        "ledger": [_entry(e) for e in sorted(ledger, key=lambda e: e.seq)],
        "orders": [_order(e) for e in ledger if e.kind == kinds.EARN and "amount_fen" in e.detail],
        "merges": _merges(live, merged),
        "merged_accounts": [_merged_account(other) for other in merged],
        "consents": _consents(live),
        "deliveries": privacy_repo.deliveries(everyone),
        "approvals": _approvals(everyone),
        "audit": _audit(live, now),
        "checkins": [row for member_id in everyone for row in checkins_repo.member_items(member_id)],
        "referrals": _referrals(everyone),
        "coupons": [_coupon(coupon) for member_id in everyone for coupon in coupons_repo.member_coupons(member_id)],
        **_wallet(everyone),
        "mall_redemptions": _mall_redemptions(everyone),
        "member_card": [_plain(card) for card in map(member_card_repo.get, everyone) if card is not None],
        "checkouts": [_plain(found) for member_id in everyone for found in checkout_repo.of_member(member_id)],
    }
    counts = {name: len(value) for name, value in document.items() if isinstance(value, list)}
    privacy.record_read(live, {"export": counts}, entry)
    return document


def _profile(item: dict[str, Any]) -> dict[str, Any]:
    """The member item as held, the phone decrypted; bookkeeping left out."""
    profile = {name: value for name, value in item.items() if name not in _HIDDEN and value is not None}
    if item.get("phone_enc"):
        profile["phone"] = decrypt_phone(str(item["phone_enc"]))
    profile.setdefault("status", "active")
    return dict(sorted(profile.items()))


def _tier_name(code: Any) -> str | None:
    return tier_name(str(code)) if code else None


def _lots(member_id: str) -> list[Any]:
    return sorted(points_repo.load_lots(member_id), key=lambda lot: lot.expires_on)


def _referrals(member_ids: list[str]) -> list[dict[str, Any]]:
    """The member's own referral (who invited them) and those they made, the invitees unnamed."""
    rows = []
    for member_id in member_ids:
        own = referrals_repo.get(member_id)
        if own is not None:
            rows.append({"role": "invitee", **_referral(own), "code": own.code})
        cursor: str | None = None
        while True:
            page, cursor = referrals_repo.of_referrer(member_id, 50, cursor)
            rows += [{"role": "referrer", **_referral(made)} for made in page]
            if cursor is None:
                break
    return rows


def _mall_redemptions(member_ids: list[str]) -> list[dict[str, Any]]:
    from chalicelib.services import mall  # pydantic (the mall's rules) stays off the cold-start path

    return [row for member_id in member_ids for row in mall.export_rows(member_id)]


def _wallet(member_ids: list[str]) -> dict[str, Any]:
    """Stored value (储值) of the member and the accounts merged into it: the purses, their
    ledgers (a merged one ends with its `merge_out` lines), the top-ups and their refunds, as held."""
    from chalicelib.store import topups_repo, wallet_repo  # pydantic (the wallet's rules) stays off the cold start

    wallets = [wallet_repo.get_wallet(member_id) for member_id in member_ids]
    return {
        "wallet": [
            {"member_id": w.member_id, "principal_fen": w.principal, "bonus_fen": w.bonus}
            for w in wallets
            if w.version or w.member_id == member_ids[0]
        ],  # fmt: skip
        "wallet_ledger": [asdict(entry) for member_id in member_ids for entry in wallet_repo.iter_entries(member_id)],
        "topups": [_plain(topup) for member_id in member_ids for topup in topups_repo.of_member(member_id)],
        "topup_refunds": [_plain(r) for member_id in member_ids for r in topups_repo.refunds_of_member(member_id)],
    }


def _plain(record: Any) -> dict[str, Any]:
    row = {name: value for name, value in asdict(record).items() if value is not None and name != "fingerprint"}
    return {name: str(value) if isinstance(value, StrEnum) else value for name, value in row.items()}


def _coupon(coupon: Coupon) -> dict[str, Any]:
    row = {name: getattr(coupon, name) for name in ("coupon_id", "template_id", "code", "claimed_at", "source")}
    row |= {"status": str(coupon.status), "valid_from": iso(coupon.valid_from), "valid_until": iso(coupon.valid_until)}
    row |= {name: getattr(coupon, name) for name in ("used_at", "used_store", "order_id", "returned_at")}
    return row


def _referral(referral: Referral) -> dict[str, Any]:
    return {
        "bound_at": referral.bound_at,
        "via": referral.via,
        "status": str(referral.status),
        "reason": str(referral.reason) if referral.reason else None,
        "rewarded_at": referral.rewarded_at,
        "points": referral.invitee_points,
    }


def _held(held: pending_repo.Pending) -> dict[str, Any]:
    return {
        "order_id": keys.order_id_of(held.order_entry_id),
        "points": held.remaining,
        "earned": held.earned,
        "release_on": held.release_on.isoformat(),
    }


def _entry(entry: LedgerEntry) -> dict[str, Any]:
    row = asdict(entry)
    row.pop("fingerprint", None)
    return row


def _order(entry: LedgerEntry) -> dict[str, Any]:
    detail = entry.detail
    return {
        "order_id": entry.entry_id.removeprefix("order:"),
        "amount_fen": int(detail["amount_fen"]),
        "paid_at": detail.get("paid_at"),
        "store_id": entry.source,
        "points": int(detail.get("earned", entry.delta)),
        "growth": int(detail.get("growth", 0)),
        "refunded_fen": int(entry.refunded_fen or 0),
        "recorded_at": entry.created_at,
    }


def _merges(live: str, merged: list[str]) -> list[dict[str, Any]]:
    records = [merge_repo.get(member_id) for member_id in [live, *merged]]
    return [
        {
            "merged_id": record.merge_id,
            "survivor_id": record.survivor_id,
            "status": str(record.status),
            "trigger": record.trigger,
            "started_at": record.started_at,
            "finished_at": record.finished_at,
        }
        for record in records
        if record is not None
    ]


def _merged_account(member_id: str) -> dict[str, Any]:
    item = privacy_repo.member_item(member_id) or {"member_id": member_id}
    entries = sorted(points_repo.iter_member_entries(member_id), key=lambda e: e.seq)
    return {"member_id": member_id, "profile": _profile(item), "ledger": [_entry(e) for e in entries]}


def _consents(member_id: str) -> dict[str, Any]:
    found = privacy.consents(member_id)
    return {
        "marketing": {"granted": found.marketing, "changed_at": found.marketing_changed_at},
        "subscribe_messages": found.subscribe_messages,
    }


def _approvals(member_ids: list[str]) -> list[dict[str, Any]]:
    """Requests concerning the members: adjustments of their points, merges of their accounts."""
    found: dict[str, Approval] = {}
    for member_id in member_ids:
        for approval in approvals_repo.for_member(member_id):
            found.setdefault(approval.approval_id, approval)
    return [
        {
            "approval_id": approval.approval_id,
            "kind": approval.kind,
            "status": str(approval.status),
            "points": approval.points,
            "reason": approval.reason,
            "requested_at": approval.requested_at,
            "decided_at": approval.decided_at,
        }
        for approval in sorted(found.values(), key=lambda a: (a.requested_at, a.approval_id))
    ]


def _audit(member_id: str, now: datetime) -> list[dict[str, Any]]:
    """What operators (and the member) did to the account: action, time and role."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    start = now - timedelta(days=366 * AUDIT_YEARS)
    while True:
        page = audit_repo.query(
            target=f"member:{member_id}", operator=None, start=start, end=now, limit=AUDIT_PAGE, cursor=cursor
        )
        rows += [{"action": e.action, "at": e.at, "role": str(e.role)} for e in page.entries]
        if page.cursor is None:
            return rows
        cursor = page.cursor
