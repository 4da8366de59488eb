"""What `/openapi.json` says beyond what pydantic derives from the models: the rules the API's
validators enforce (each entry names its validator), the path parameter formats that
`routing._prepare` enforces, and how each kind of caller authenticates.

tests/contract sends schema-valid requests to the running stack and fails when one is refused,
so a rule the API gains without a line here shows up there.
"""

from __future__ import annotations

from typing import Any

KEY_PATTERN = r"^[A-Za-z0-9_\-:.]{1,64}$"  # ids we mint, order and refund ids, idempotency keys
PATH_PATTERNS = {
    "external_userid": r"^[A-Za-z0-9_\-]{1,64}$",  # WeChat Work's alphabet (api/staff.py)
    "operator_id": r"^[a-z0-9][a-z0-9_.\-]{0,63}$",  # domain/operators.py OPERATOR_ID
    "key_id": r"^[0-9a-f]{8}$",
}
PHONE_PATTERN = r"^\+?[0-9]{5,15}$"  # 86 and 11 digits, or the number alone
MEMBER_CODE_PATTERN = r"^\s*[Mm]1[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{32}\s*$"  # 动态会员码, case-insensitive
# base64url of a JSON object (store/points_repo.py), signed where it carries a start key
# (store/audit_repo.py); empty: page 1
CURSOR_PATTERN = r"^(eyJ[A-Za-z0-9_\-]*={0,2}(\.[0-9a-f]{32})?)?$"

INTEGERS = (
    "Integers are JSON integers written without a fraction or exponent (10, not 10.0 or 1e1): "
    "JSON Schema cannot say so, the API refuses the others (400)."
)


def _one_of_given(*names: str) -> list[dict[str, Any]]:
    """One alternative per field: that field given and not null/empty."""
    return [{"required": [name], "properties": {name: {"type": "string", "minLength": 1}}} for name in names]


def _given_integer(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"type": "integer"}}}


def model_rules() -> dict[str, dict[str, Any]]:
    """JSON Schema keywords merged into the generated model schemas: `{model: {"": model-level,
    field: field-level}}`."""
    from chalicelib.notify import templates
    from chalicelib.services.tiers import configured_tiers

    return {
        # ProfilePatch._not_empty
        "ProfilePatch": {"": {"anyOf": _one_of_given("nickname", "birthday", "gender")}},
        # MemberRef._exactly_one (an empty string is not given)
        "MemberRef": {
            "": {"oneOf": _one_of_given("member_id", "openid", "unionid", "phone", "code")},
            "phone": {"pattern": PHONE_PATTERN},  # domain/members.normalise_phone
            "code": {"pattern": MEMBER_CODE_PATTERN},  # services/member_code.member_of (and its signature)
        },
        # AdjustmentIn._not_zero
        "AdjustmentIn": {"points": {"not": {"const": 0}}},
        # services/campaigns.create: a campaign.* kind of the templates file
        "CampaignIn": {
            "template": {"enum": templates.campaign_kinds()},
            "send_at": {"description": "at most 731 days ago"},  # CampaignIn._within_the_scheduling_window
        },
        # services/campaigns.create: tier codes of the tiers file
        "AudienceIn": {"tiers": {"items": {"enum": sorted(tier["code"] for tier in configured_tiers())}}},
        # services/subscriptions.record_choices: subscribe template ids of the templates file
        "SubscriptionsIn": {"results": {"propertyNames": {"enum": sorted(templates.mini_template_ids())}}},
        # services/orders: paid_at within the backdating window, not ahead of the clock
        "OrderIn": {"paid_at": {"description": "at most ORDER_BACKDATE_DAYS (default 30) days ago, not in the future"}},
        # services/orders.refund_order: a partial refund names its refund_id
        "RefundIn": {
            "": {
                "allOf": [
                    {
                        "if": _given_integer("amount_fen"),
                        "then": {"required": ["refund_id"], "properties": {"refund_id": {"type": "string"}}},
                    },
                    {  # a refund by lines names its refund_id too
                        "if": {"required": ["lines"], "properties": {"lines": {"type": "array"}}},
                        "then": {"required": ["refund_id"], "properties": {"refund_id": {"type": "string"}}},
                    },
                ]
            }
        },
        # services/identity.merge_members
        "MergeIn": {"merged_id": {"description": "another member than survivor_id"}},
        "LoginIn": {"code": {"description": "from wx.login: single use, 5 minutes; else 400 invalid_wechat_code"}},
        "PhoneIn": {"code": {"description": "from getPhoneNumber: single use; else 400 invalid_phone_code"}},
        "StaffLoginIn": {"code": {"description": "WeChat Work OAuth code: single use; else 400"}},
    }


def apply_model_rules(defs: dict[str, Any]) -> dict[str, Any]:
    for name, rules in model_rules().items():
        target = defs.get(name)
        if target is None:
            continue
        for field, keywords in rules.items():
            node = target if field == "" else target.get("properties", {}).get(field)
            if node is None:  # a renamed field: the document stays up, the contract test shows the gap
                continue
            if "description" in keywords and "description" in node:
                keywords = {**keywords, "description": f"{node['description']}; {keywords['description']}"}
            node.update(keywords)
    return defs


def path_parameter(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": PATH_PATTERNS.get(name, KEY_PATTERN)},
    }


def query_rules(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: the `null` branch of an optional field goes."""
    branches = [branch for branch in schema.get("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        schema = {**{k: v for k, v in schema.items() if k not in ("anyOf", "default")}, **branches[0]}
    if name == "cursor":
        schema = {**schema, "pattern": CURSOR_PATTERN, "description": "next_cursor of the previous page, as given"}
    return schema


SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "member": [{"memberToken": []}],
    "staff": [{"staffToken": []}],
    "pos": [{"posClientId": [], "posTimestamp": [], "posSignature": []}],
    "operator": [{"operatorToken": []}, {"operatorId": [], "operatorKey": []}],
}


def _header(name: str, description: str) -> dict[str, str]:
    return {"type": "apiKey", "in": "header", "name": name, "description": description}


SECURITY_SCHEMES: dict[str, Any] = {
    "memberToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "token of POST /v1/auth/login",
    },
    "staffToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "token of POST /v1/staff/login (WeChat Work staff)",
    },
    "posClientId": _header("X-Client-Id", "a POS client of POS_CLIENTS"),
    "posTimestamp": _header("X-Timestamp", "unix seconds, 1-12 ASCII digits, within the allowed skew"),
    "posSignature": _header(
        "X-Signature", "hex HMAC-SHA256 under the client's secret of METHOD\\nPATH\\nX-Timestamp\\nsha256(body)"
    ),
    "operatorToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "token of POST /admin/auth/login (the console); carries the operator's role",
    },
    "operatorId": _header("X-Operator-Id", "an operator account (scripts)"),
    "operatorKey": _header("X-Operator-Key", "a script key of that operator (POST /admin/operators/{id}/keys)"),
}
