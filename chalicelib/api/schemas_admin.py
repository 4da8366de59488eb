"""Request and response models of the operator console: sign-in, operator accounts and the
audit trail."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field, model_validator

from chalicelib.api.schemas import Strict

OPERATOR_ID = r"^[a-z0-9][a-z0-9_.\-]{0,63}$"
ConsoleRole = Literal["admin", "operator", "auditor"]


class OperatorLoginIn(Strict):
    operator_id: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class OperatorTokenOut(Strict):
    token: str
    expires_in: int
    operator_id: str
    role: ConsoleRole


class OperatorIn(Strict):
    operator_id: str = Field(pattern=OPERATOR_ID, description="lower case letters, digits, _ . -")
    role: ConsoleRole
    display_name: str = Field(min_length=1, max_length=64)
    password: str | None = Field(default=None, min_length=12, max_length=256, description="none: script keys only")
    wecom_userid: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-.@]{1,64}$", description="企业微信 userid")


class OperatorPatch(Strict):
    role: ConsoleRole | None = None
    status: Literal["active", "disabled"] | None = None
    display_name: str | None = Field(default=None, min_length=1, max_length=64)
    password: str | None = Field(default=None, min_length=12, max_length=256)
    wecom_userid: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-.@]{1,64}$")

    @model_validator(mode="after")
    def _not_empty(self) -> OperatorPatch:
        if not self.model_fields_set:
            raise ValueError("name at least one of role, status, display_name, password, wecom_userid")
        return self


class OperatorOut(Strict):
    operator_id: str
    role: ConsoleRole
    display_name: str
    status: Literal["active", "disabled"]
    has_password: bool
    key_ids: list[str]
    created_at: str
    created_by: str
    wecom_userid: str | None


class OperatorListOut(Strict):
    items: list[OperatorOut]


class OperatorKeyOut(Strict):
    operator_id: str
    key_id: str
    key: str = Field(description="shown once: send it as X-Operator-Key; only its hash is kept")


class SessionOut(Strict):
    operator_id: str
    role: ConsoleRole
    revoked: bool


class AuditQuery(Strict):
    target: str | None = Field(default=None, min_length=1, max_length=200, description="e.g. member:M1")
    operator: str | None = Field(default=None, pattern=OPERATOR_ID)
    from_: AwareDatetime | None = Field(default=None, alias="from", description="ISO 8601 with offset")
    to: AwareDatetime | None = Field(default=None, description="ISO 8601 with offset; default now")
    cursor: str | None = Field(default=None, max_length=2048)
    limit: int = Field(default=50, ge=1, le=200)


class AuditEntryOut(Strict):
    audit_id: str
    at: str
    operator: str
    role: str
    action: str
    target: str
    request_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    via: str | None = Field(description="the request's own target when the entry names another (approval → member)")


class AuditPageOut(Strict):
    items: list[AuditEntryOut]
    next_cursor: str | None
