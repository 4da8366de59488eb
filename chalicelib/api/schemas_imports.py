"""Request and response models of the imports routes (filled in with their issue-13 feature)."""

from __future__ import annotations
