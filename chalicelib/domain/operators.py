"""Who may do what: the roles of the people and servers that call us, and operator accounts.

An operator account (运营/管理员账号) holds one of the console roles; store staff sign in
through WeChat Work and POS servers sign their requests, so those two roles are never held
by an account here. A role is read from the account on every request: a changed role or a
disabled account takes effect on the next call, whatever tokens are out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

OPERATOR_ID = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,63}")  # lower case: "Alice" and "alice" are one person


class Role(StrEnum):
    ADMIN = "admin"  # everything, and manages operators
    OPERATOR = "operator"  # members, points, programme, campaigns, coupons
    AUDITOR = "auditor"  # reads everything, the audit trail included; writes nothing
    STAFF = "staff"  # store staff (企业微信): customer lookup, coupon redemption
    POS = "pos"  # the brand's POS / mall servers: orders and checkout, signed
    MEMBER = "member"  # a member's own token: never an admin route


CONSOLE_ROLES = (Role.ADMIN, Role.OPERATOR, Role.AUDITOR)


class OperatorStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclass(frozen=True)
class Operator:
    operator_id: str
    role: Role
    display_name: str
    status: OperatorStatus = OperatorStatus.ACTIVE
    password_hash: str | None = None  # argon2id (security/passwords.py)
    key_hashes: dict[str, str] = field(default_factory=dict)  # key id → sha256 of the script key
    generation: int = 0  # bumped to revoke every token issued before
    created_at: str = ""
    created_by: str = ""
    wecom_userid: str | None = None  # 企业微信 userid: where the operator's notifications go

    @property
    def active(self) -> bool:
        return self.status == OperatorStatus.ACTIVE


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: who, and in which role."""

    subject: str
    role: Role
