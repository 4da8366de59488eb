"""Subscribe-message consents (订阅消息): each accepted template allows one send."""

from __future__ import annotations

from datetime import datetime

from chalicelib.clock import iso
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ledger import fingerprint
from chalicelib.notify import templates
from chalicelib.store import notify_repo


def record_choices(member_id: str, results: dict[str, str], request_key: str, now: datetime) -> dict[str, int]:
    """Accepted templates each gain one consent; a retried request (same key) adds nothing."""
    known = templates.mini_template_ids()
    for template_id in results:
        if template_id not in known:
            raise InvalidInput(f"unknown template id {template_id}", field=f"results.{template_id}")
    accepted = sorted(t for t, choice in results.items() if choice == "accept")
    # Recorded even when nothing was accepted, so a reused key with another body is caught.
    notify_repo.add_consents_once(
        f"consent:{member_id}:{request_key}", member_id, accepted, fingerprint(results), iso(now)
    )
    return notify_repo.consents(member_id)


def current(member_id: str) -> dict[str, int]:
    return notify_repo.consents(member_id)
