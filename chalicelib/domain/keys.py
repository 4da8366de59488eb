"""Idempotency keys (幂等键): the one place that builds them.

A key is its kind and its parts joined by `:`, each part escaped (`%` → `%25`, `:` → `%3A`),
so no two requests share a key by accident: order `RT:X` refund `Y` is
`refund:RT%3AX:Y`, order `RT` refund `X:Y` is `refund:RT:X%3AY`. Parts without `%` or `:`
(our member ids, dates) read as they are, so keys written before escaping existed still match.
"""

from __future__ import annotations

import hashlib


def _escape(part: str) -> str:
    return part.replace("%", "%25").replace(":", "%3A")


def key(kind: str, *parts: str) -> str:
    if not parts or any(not part for part in parts):
        raise ValueError(f"{kind}: every part of a key must be non-empty")
    return ":".join([kind, *(_escape(part) for part in parts)])


def order_entry(order_id: str) -> str:
    return key("order", order_id)


def order_id_of(order_entry_id: str) -> str:
    """The order id an order entry's key was built from (`order_entry`'s inverse)."""
    return order_entry_id.removeprefix("order:").replace("%3A", ":").replace("%25", "%")


def refund_entry(order_id: str, refund_id: str) -> str:
    return key("refund", order_id, refund_id)


def redeem_entry(member_id: str, idempotency_key: str) -> str:
    return key("redeem", member_id, idempotency_key)


def adjust_entry(member_id: str, operator: str, idempotency_key: str) -> str:
    """Each operator has a key space of their own: two operators' `k1` are two requests."""
    return key("adjust", member_id, operator, idempotency_key)


def approved_adjust_entry(approval_id: str) -> str:
    return key("adjust", approval_id)


def approval_id(kind: str, *parts: str) -> str:
    """`apr_` + 24 hex of the escaped key: stable for a retried request, opaque to callers."""
    return "apr_" + hashlib.sha256(key(kind, *parts).encode()).hexdigest()[:24]


def campaign_id(operator: str, idempotency_key: str) -> str:
    """`cmp_` + 16 hex: one campaign per operator and Idempotency-Key (neither contains a
    newline: operator ids come from configuration, keys are checked at the API)."""
    return "cmp_" + hashlib.sha256(f"{operator}\n{idempotency_key}".encode()).hexdigest()[:16]


def consent_entry(member_id: str, request_key: str) -> str:
    return key("consent", member_id, request_key)


def expire_entry(member_id: str, day: str) -> str:
    return key("expire", member_id, day)
