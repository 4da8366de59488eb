"""The permission table: which roles may call what. Routes declare a permission by name
(`route(..., permission="points.adjust")`), the router refuses other roles with 403, and the
OpenAPI document lists each route's roles (`x-roles`). A new admin route adds its permission
here, or reuses one; `tests/integration/test_role_matrix.py` walks every role × every route."""

from __future__ import annotations

from chalicelib.domain.operators import Role

_ADMIN = frozenset({Role.ADMIN})
_WRITE = frozenset({Role.ADMIN, Role.OPERATOR})
_READ = frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR})

PERMISSIONS: dict[str, frozenset[Role]] = {
    # operator accounts and their credentials
    "operators.manage": _ADMIN,
    "operators.read": frozenset({Role.ADMIN, Role.AUDITOR}),
    "session.self": frozenset({Role.ADMIN, Role.OPERATOR, Role.AUDITOR}),  # sign out, who am I
    # the audit trail
    "audit.read": frozenset({Role.ADMIN, Role.AUDITOR}),
    # member service
    "members.read": _READ,
    "members.write": _WRITE,  # merge requests, imports
    "points.adjust": _WRITE,  # single adjustments and bulk grants
    "points.read": _READ,
    "approvals.read": _READ,
    "approvals.decide": _WRITE,
    "privacy.run": _WRITE,  # export / deletion on a member's request
    # the programme and campaigns
    "campaigns.write": _WRITE,
    "campaigns.read": _READ,
    "programme.write": _WRITE,
    "programme.read": _READ,
    "coupons.write": _WRITE,
    "coupons.read": _READ,
    "mall.write": _WRITE,  # points mall rewards, partner codes, fulfilments (ship, deliver, cancel)
    "mall.read": _READ,
    # stored value and the WeChat member card
    "wallet.read": _READ,  # a member's wallet, its ledgers, top-ups and refunds
    "cards.write": _WRITE,  # the member card's activation form, a card's re-sync
    "cards.read": _READ,
}


def roles_for(permission: str) -> frozenset[Role]:
    try:
        return PERMISSIONS[permission]
    except KeyError:
        raise LookupError(f"no permission named {permission!r} in chalicelib/api/permissions.py") from None
