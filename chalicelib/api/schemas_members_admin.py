"""Request and response models of the members_admin routes (filled in with their issue-13 feature)."""

from __future__ import annotations
