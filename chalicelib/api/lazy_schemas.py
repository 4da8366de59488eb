"""The request/response models, loaded on first attribute access (see routing.lazy_module):
route modules import `schemas` from here so that importing the app does not import pydantic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api.routing import lazy_module

if TYPE_CHECKING:
    from chalicelib.api import schemas
else:
    schemas = lazy_module("chalicelib.api.schemas")

__all__ = ["schemas"]
