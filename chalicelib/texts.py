"""Texts a member reads (Simplified Chinese), by code, from the messages file of the settings
(`chalicelib/config/messages.zh-CN.json`): error messages and the ledger's words alike."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from chalicelib.settings import get_settings


@lru_cache(maxsize=4)
def _messages(path: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(Path(path).read_text(encoding="utf-8"))
    return loaded


def text(code: str, **values: object) -> str:
    """The text of `code` with its `{placeholders}` filled; an unknown code reads as the generic error."""
    texts = _messages(get_settings().messages_file)
    template = texts.get(code, texts.get("internal_error", code))
    return template.format(**values) if values else template
