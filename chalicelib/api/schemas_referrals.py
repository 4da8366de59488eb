"""Request and response models of the referrals routes (issue 14)."""

from __future__ import annotations
