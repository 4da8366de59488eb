"""Request and response models of bulk points grants (批量发放积分)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from chalicelib.api.schemas import MAX_POINTS, Strict
from chalicelib.api.schemas_notify import AudienceIn
from chalicelib.domain.grants import ID_VALUE

# The whole request fits the API's 16 KiB body even when JSON escapes double every character
# (a newline is two bytes); a longer list is an audience, or several grants.
CSV_MAX_CHARS = 7_000
# What domain/grants.parse_members_csv accepts, line by line: blanks around a value, the value
# optionally quoted, `\n` or `\r\n` between lines. A header (`member_id`, `phone`) is an id here.
_VALUE = rf'(?:"(?:{ID_VALUE}|\+[0-9]{{5,15}})"|{ID_VALUE}|\+[0-9]{{5,15}})'
_LINE = rf"[ \t]*(?:{_VALUE}[ \t]*)?\r?"
CSV_PATTERN = rf"^\ufeff?(?:{_LINE}\n)*{_LINE}$"


class GrantIn(Strict):
    """Exactly one of `members_csv` and `audience`."""

    points: int = Field(
        ge=-MAX_POINTS,
        le=MAX_POINTS,
        description="per member; negative deducts",
        json_schema_extra={"not": {"const": 0}},
    )
    reason: str = Field(min_length=1, max_length=128, description="shown to members in their points history")
    members_csv: str | None = Field(
        default=None,
        max_length=CSV_MAX_CHARS,
        description="one column: a member id or a phone number (5-15 digits, optionally after +) per line; "
        "an optional first line `member_id` or `phone`; duplicates count once",
        json_schema_extra={"pattern": CSV_PATTERN},
    )
    audience: AudienceIn | None = Field(default=None, description="the members a campaign with this audience reaches")

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["members_csv"], "properties": {"members_csv": {"type": "string", "minLength": 1}}},
                {"required": ["audience"], "properties": {"audience": {"type": "object"}}},
            ]
        }
    )

    @model_validator(mode="after")
    def _one_source(self) -> GrantIn:
        if self.points == 0:
            raise ValueError("points must not be zero")
        if bool(self.members_csv) == (self.audience is not None):
            raise ValueError("give exactly one of members_csv, audience")
        return self


class GrantFailureOut(Strict):
    member_id: str
    reason: str = Field(description="member_not_found, member_merged, insufficient_points, approval_required")
    line: int | None = Field(description="the CSV line that named the member")


class GrantOut(Strict):
    grant_id: str
    status: Literal["pending_approval", "running", "done", "failed", "rejected"] = Field(
        description="done: every member was granted or is listed as failed; failed: the job gave up (see error); "
        "rejected: the second operator said no, nothing was granted"
    )
    points: int
    reason: str
    source: Literal["csv", "audience"]
    audience: dict[str, Any] | None
    total: int = Field(description="distinct members")
    done: int = Field(description="members granted so far")
    failed: int = Field(description="members the change could not apply to")
    failed_by_reason: dict[str, int]
    failures: list[GrantFailureOut] = Field(description="the first 100 failures")
    total_points: int = Field(description="Σ|points| over the members")
    chunks: int
    chunks_done: int
    requested_by: str
    requested_at: str
    approval_id: str | None
    approved_by: str | None
    approved_at: str | None
    rejected_by: str | None
    rejection_reason: str | None
    finished_at: str | None
    error: str | None = Field(description="why the job gave up, when it did")
