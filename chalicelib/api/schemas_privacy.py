"""Request and response models of the privacy routes (filled in with their issue-13 feature)."""

from __future__ import annotations
