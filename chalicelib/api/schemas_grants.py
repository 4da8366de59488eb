"""Request and response models of the grants routes (filled in with their issue-13 feature)."""

from __future__ import annotations
