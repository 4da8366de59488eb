"""A member's points history (积分明细), as the member reads it."""

from __future__ import annotations

from chalicelib.domain.ledger import LedgerEntry
from chalicelib.store import points_repo


def ledger_page(member_id: str, limit: int, cursor: str | None) -> tuple[list[LedgerEntry], str | None]:
    """Newest first, `limit` entries and the cursor of the next page (None on the last one)."""
    return points_repo.list_entries(member_id, limit, cursor)
