"""Subscribe-message consents (订阅消息): each accepted template allows one send."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.clock import iso
from chalicelib.domain import keys
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ledger import fingerprint
from chalicelib.notify import templates
from chalicelib.store import notify_repo

# How long a request key is remembered: the mini-program retries within seconds, a new
# `wx.requestSubscribeMessage` result always comes with a new key.
KEY_KEPT = timedelta(days=30)


def record_choices(member_id: str, results: dict[str, str], request_key: str, now: datetime) -> dict[str, int]:
    """Accepted templates each gain one consent; a retried request (same key) adds nothing.
    Only templates of the templates file are accepted: an unknown id is refused (400)."""
    known = templates.mini_template_ids()
    for template_id in results:
        if template_id not in known:
            raise InvalidInput(f"unknown template id {template_id}", field=f"results.{template_id}")
    accepted = sorted(t for t, choice in results.items() if choice == "accept")
    # Recorded even when nothing was accepted, so a reused key with another body is caught.
    notify_repo.add_consents_once(
        keys.consent_entry(member_id, request_key), member_id, accepted, fingerprint(results), iso(now), KEY_KEPT
    )
    return notify_repo.consents(member_id)


def current(member_id: str) -> dict[str, int]:
    return notify_repo.consents(member_id)
