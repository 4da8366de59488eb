"""WeChat callbacks (回调): what a message or event pushed by WeChat's servers means. Pure rules.

WeChat retries a callback it got no answer to within 5 seconds (3 tries). A retry carries the
same MsgId (messages) or the same FromUserName + CreateTime + Event (+ EventKey) (events), so
that is the key under which a callback's effect and reply are remembered.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MP, WORK = "mp", "work"
# Fields that tell two different events of one user in the same second apart.
_EVENT_IDENTITY = ("EventKey", "ChangeType", "ExternalUserID", "UserID", "UserCardCode", "CardId")


@dataclass(frozen=True)
class Inbound:
    """One callback, decrypted and parsed. `fields` holds every top-level XML field as text."""

    app: str  # "mp" (official account) or "work" (WeChat Work)
    msg_type: str  # text, image, event, ... (lower case)
    event: str  # lower-case event name; "" for a message
    from_user: str  # openid (official account), userid or "sys" (WeChat Work)
    to_user: str  # the account's original id, or the corpid
    create_time: int
    msg_id: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return str(self.fields.get(name) or "")

    def dedup_key(self) -> str:
        if self.msg_id:
            return f"{self.app}:{self.to_user}:msg:{self.msg_id}"
        parts = [self.from_user, str(self.create_time), self.event, *(self.get(name) for name in _EVENT_IDENTITY)]
        digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]
        return f"{self.app}:{self.to_user}:ev:{digest}"


def subscribe_scene(inbound: Inbound) -> str | None:
    """The scene of a parametric QR code (带参数二维码) behind a subscribe or SCAN event."""
    key = inbound.get("EventKey")
    if inbound.event == "subscribe":
        return key.removeprefix("qrscene_") if key.startswith("qrscene_") else None
    if inbound.event == "scan":
        return key or None
    return None


def attribution(scene: str, occurred_at: str) -> dict[str, Any]:
    """What brought a member: `store_<code>` (a store's QR code), `ref_<member code>` (a member's
    invitation: services/referrals.py binds it), or any other scene kept as it is, for the
    operators' reports."""
    kind, _, value = scene.partition("_")
    if kind in ("store", "ref") and value:
        return {"kind": "store" if kind == "store" else "referral", "id": value, "scene": scene, "at": occurred_at}
    return {"kind": "scene", "id": scene, "scene": scene, "at": occurred_at}


def is_points_query(inbound: Inbound, menu_key: str, keywords: frozenset[str]) -> bool:
    """The "my points" menu item, or a text message that asks for the balance (积分 / 查积分 ...)."""
    if inbound.event == "click":
        return inbound.get("EventKey") == menu_key
    return inbound.msg_type == "text" and inbound.get("Content").strip() in keywords
