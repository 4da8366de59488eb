"""Placeholder: routes arrive with issues 4 and 5."""

from __future__ import annotations

from chalice.app import Blueprint

bp = Blueprint(__name__)
