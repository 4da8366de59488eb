"""Request/response models of subscriptions (订阅消息) and campaigns."""

from __future__ import annotations
