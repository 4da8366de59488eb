"""Request/response models of the staff sidebar and member merges."""

from __future__ import annotations
