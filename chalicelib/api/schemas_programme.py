"""Request and response models of `/admin/programme`: the programme itself is the domain's
model (`domain/programme.py`), validated as it is stored."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.api.schemas import Strict
from chalicelib.domain.programme import Programme


class ProgrammeIn(Strict):
    base_version: int | None = Field(ge=1, le=10**9, description="the version this edit started from; null: the first")
    note: str | None = Field(default=None, max_length=200, description="why: shown in the history")
    programme: Programme


class ProgrammeOut(Strict):
    version: int | None = Field(description="null: the deployment's configured programme, nothing published yet")
    created_at: str | None
    created_by: str | None
    note: str | None
    programme: Programme


class ProgrammeVersionOut(Strict):
    version: int
    created_at: str
    created_by: str
    note: str | None


class ProgrammeHistoryQuery(Strict):
    before: int | None = Field(default=None, ge=2, le=10**9, description="versions older than this one")
    limit: int = Field(default=20, ge=1, le=100)


class ProgrammeHistoryOut(Strict):
    items: list[ProgrammeVersionOut]


class ProgrammeDiffQuery(Strict):
    from_: int = Field(alias="from", ge=1, le=10**9)
    to: int = Field(ge=1, le=10**9)


class ProgrammeChangeOut(Strict):
    path: str
    before: Any
    after: Any


class ProgrammeDiffOut(Strict):
    changes: list[ProgrammeChangeOut]
