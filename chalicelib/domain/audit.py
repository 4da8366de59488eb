"""The audit trail's entries and the rule for what a summary may hold: no secrets, no raw
phone numbers, nothing large. Summaries are written by services (`audit_repo.describe`),
and this is the one filter they all pass through."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.operators import Role

# Keys whose values never reach the trail, whatever a service hands in.
SECRET_KEYS = re.compile(r"password|secret|key|token|session|code|cipher", re.IGNORECASE)
# Mainland mobile numbers (and any 7+ digit run): masked as 138****5678.
PHONE_LIKE = re.compile(r"(?<!\d)(\d{3})\d{4,}(\d{4})(?!\d)")
MAX_STRING = 200
MAX_ITEMS = 50


@dataclass
class AuditEntry:
    audit_id: str
    at: str  # ISO 8601 UTC
    operator: str
    role: Role | str
    action: str
    target: str
    request_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    via: str | None = None  # the route's own target when the service named another (approval → member)


@dataclass
class AuditScope:
    """The audit entry of the request under way: bound by the router for every admin write
    and privacy request, completed by the service (`describe`), written by the first unit of
    work that commits inside it, in the same transaction."""

    entry: AuditEntry
    recorded: bool = False


def summary(value: Any, depth: int = 0) -> Any:
    """A copy fit for the trail: secret-looking keys dropped, phone-like digits masked, long
    strings and collections cut."""
    if isinstance(value, dict):
        kept = {}
        for name, inner in list(value.items())[:MAX_ITEMS]:
            if SECRET_KEYS.search(str(name)) or str(name) in ("phone", "openid", "unionid", "name", "birthday"):
                kept[str(name)] = "[redacted]" if inner not in (None, "") else inner
            else:
                kept[str(name)] = summary(inner, depth + 1) if depth < 4 else "…"
        return kept
    if isinstance(value, list | tuple):
        return [summary(inner, depth + 1) for inner in list(value)[:MAX_ITEMS]]
    if isinstance(value, str):
        return PHONE_LIKE.sub(r"\1****\2", value[:MAX_STRING])
    if isinstance(value, bool | int | float) or value is None:
        return value
    return summary(str(value), depth)
