"""What every table shares: the region, billing and short client timeouts."""

from __future__ import annotations

from chalicelib.settings import table_settings

_settings = table_settings()


class _Meta:
    region = _settings.region
    billing_mode = "PAY_PER_REQUEST"
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 3
