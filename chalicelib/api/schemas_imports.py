"""Request and response models of the member import (会员导入, `/admin/imports/members`)."""

from __future__ import annotations

from pydantic import Field

from chalicelib.api.schemas import Strict

# The route's own body limit: Lambda takes 6 MB in a synchronous call (API Gateway 10 MB).
MAX_BODY_BYTES = 6 * 1024 * 1024


class ImportMembersQuery(Strict):
    dry_run: bool = Field(default=True, description="true (the default): check and count, write nothing")
    skip_invalid: bool = Field(
        default=False, description="write the good lines of a file with bad ones (else a bad line refuses the file)"
    )


class ImportMembersIn(Strict):
    csv: str = Field(
        min_length=1,
        max_length=MAX_BODY_BYTES,
        description="UTF-8 CSV with the header external_id,phone,name,birthday,tier,growth,points; points as "
        "lots `<points>@<YYYY-MM-DD>` joined by `;` (see chalicelib/domain/imports.py)",
    )


class ImportLineErrorOut(Strict):
    line: int = Field(description="the file's line (the header is 1)")
    field: str = Field(description="a column, or row, header, file")
    reason: str


class ImportMembersOut(Strict):
    dry_run: bool
    written: bool = Field(description="false for a dry run and for a file refused for its bad lines")
    rows: int = Field(description="data lines in the file")
    created: int
    updated: int
    unchanged: int
    failed: int = Field(description="lines refused")
    points: int = Field(description="opening points carried (a dry run: that would be)")
    lots: int
    file_sha256: str
    errors: list[ImportLineErrorOut] = Field(description="by line, the first 1000")
    errors_total: int
