"""The referrals routes (issue 14)."""

from __future__ import annotations

from chalice.app import Blueprint

bp = Blueprint(__name__)
