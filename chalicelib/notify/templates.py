"""Message templates (WeChat template ids, field mappings, pages) from configuration."""

from __future__ import annotations

import json
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.settings import get_settings


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return loaded


def template(kind: str) -> dict[str, Any] | None:
    """The channels configured for an event kind: any of "mini", "mp", "staff"."""
    found: dict[str, Any] | None = _load(get_settings().notify_templates_file).get(kind)
    return found


def campaign_kinds() -> list[str]:
    """The kinds a campaign may send: the `campaign.*` entries."""
    return sorted(kind for kind in _load(get_settings().notify_templates_file) if kind.startswith("campaign."))


def mini_template_ids() -> set[str]:
    return {
        str(spec["mini"]["template_id"])
        for spec in _load(get_settings().notify_templates_file).values()
        if "mini" in spec
    }


def render(text: str, data: dict[str, Any]) -> str:
    """`"{points}积分"` over the event data; a missing field renders empty, never raises."""
    return text.format_map(defaultdict(str, {k: str(v) for k, v in data.items()}))


def render_fields(fields: dict[str, str], data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """WeChat's message data shape: `{"thing1": {"value": "..."}}`."""
    return {key: {"value": render(text, data)} for key, text in fields.items()}
