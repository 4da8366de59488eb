"""Scheduled every 5 minutes: queue the recipients of campaigns whose send time has come."""

from __future__ import annotations

from datetime import datetime

from chalicelib.services import campaigns


def run(now: datetime) -> dict[str, int]:
    return campaigns.send_due(now)
