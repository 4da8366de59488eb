"""A coupon template's definition read from plain data (an operator's request, the stored
JSON, a campaign's code) and checked, each error naming its field (`benefit.cap_fen`).

`definition_from_dict` checks each field on its own (types, bounds: no negative or zero
amount, no percentage over 99); `check` the rules between fields and against the world
(the programme's tiers, the clock). `to_dict` is the stored form and the fingerprint's input.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from chalicelib.domain.coupons import (
    MAX_DAYS,
    MAX_FEN,
    MAX_LIMIT,
    MAX_SHARDS,
    MAX_STOCK,
    Benefit,
    Channel,
    Definition,
    Kind,
    Scope,
    Stacking,
    Terms,
    Validity,
    end_of,
)
from chalicelib.domain.errors import InvalidInput

GROUP = re.compile(r"^[a-z0-9_]{1,32}$")
ITEM = re.compile(r"^[A-Za-z0-9_\-:.]{1,64}$")  # SKU, category and store ids
SCOPE_LIMITS = {"skus": 500, "categories": 100, "stores": 200}
_KIND_FIELDS = {  # what each kind may carry besides `kind`
    Kind.AMOUNT_OFF: {"threshold_fen", "amount_off_fen"},
    Kind.PERCENTAGE: {"threshold_fen", "rate_percent", "cap_fen"},
    Kind.VOUCHER: {"threshold_fen", "amount_off_fen"},
    Kind.NO_THRESHOLD: {"amount_off_fen"},
    Kind.GIFT: {"threshold_fen", "gift_sku", "gift_name"},
}


def definition_from_dict(data: Any) -> Definition:
    body = _object(data, "body")
    validity = _object(body.get("validity"), "validity")
    return Definition(
        terms=terms_from_dict(body),
        validity=_validity(validity),
        stock=_int(body.get("stock"), "stock", 1, MAX_STOCK),
        claim_from=_when(body.get("claim_from"), "claim_from"),
        claim_until=_when(body.get("claim_until"), "claim_until"),
        per_member_limit=_int(body.get("per_member_limit"), "per_member_limit", 1, MAX_LIMIT, optional=True),
        per_member_daily_limit=_int(
            body.get("per_member_daily_limit"), "per_member_daily_limit", 1, MAX_LIMIT, optional=True
        ),
        tiers=_items(body.get("tiers"), "tiers", 12, re.compile(r"^[a-z][a-z0-9_]{0,31}$")),
    )


def terms_from_dict(data: dict[str, Any]) -> Terms:
    stacking = _object(data.get("stacking") or {}, "stacking")
    scope = _object(data.get("scope") or {}, "scope")
    group = stacking.get("group", "default")
    if not isinstance(group, str) or not GROUP.match(group):
        raise InvalidInput("a group is 1-32 of a-z 0-9 _", field="stacking.group")
    return Terms(
        name=_text(data.get("name"), "name", 32),
        description=_text(data.get("description"), "description", 200, optional=True),
        benefit=_benefit(_object(data.get("benefit"), "benefit")),
        scope=Scope(
            **{name: _items(scope.get(name), f"scope.{name}", top, ITEM) for name, top in SCOPE_LIMITS.items()}
        ),
        channel=_choice(data.get("channel", Channel.BOTH), Channel, "channel"),
        stacking=Stacking(
            group=group,
            exclusive=_flag(stacking.get("exclusive", True), "stacking.exclusive"),
            with_points=_flag(stacking.get("with_points", True), "stacking.with_points"),
        ),
    )


def check(definition: Definition, tier_codes: list[str], now: datetime, *, claimed: int = 0) -> None:
    """The rules between fields, the programme's tiers and the clock (an edit keeps `claimed`)."""
    benefit, validity = definition.terms.benefit, definition.validity
    if benefit.kind == Kind.AMOUNT_OFF and benefit.amount_off_fen > benefit.threshold_fen:
        raise InvalidInput("满减 takes off at most its threshold", field="benefit.amount_off_fen")
    if validity.valid_from is not None and validity.valid_until is not None:
        if validity.valid_until <= validity.valid_from:
            raise InvalidInput("the window ends before it starts", field="validity.valid_until")
        if now >= end_of(validity.valid_until):
            raise InvalidInput("the window is over already", field="validity.valid_until")
    if definition.claim_from and definition.claim_until and definition.claim_until <= definition.claim_from:
        raise InvalidInput("the claim window ends before it starts", field="claim_until")
    if definition.claim_until and validity.valid_until and definition.claim_until > validity.valid_until:
        raise InvalidInput("claiming would outlast the coupons' validity", field="claim_until")
    total, daily = definition.per_member_limit, definition.per_member_daily_limit
    if total is not None and daily is not None and daily > total:
        raise InvalidInput("a daily limit above the total limit", field="per_member_daily_limit")
    unknown = [code for code in definition.tiers if code not in tier_codes]
    if unknown:
        raise InvalidInput(f"not tiers of the programme: {', '.join(unknown)}", field="tiers")
    if definition.stock < claimed:
        raise InvalidInput(f"{claimed} are claimed already", field="stock")


def check_shards(shards: Any) -> int | None:
    found: int | None = _int(shards, "stock_shards", 1, MAX_SHARDS, optional=True)
    return found


def to_dict(definition: Definition) -> dict[str, Any]:
    validity = definition.validity
    return {
        **terms_to_dict(definition.terms),
        "validity": {"kind": "days_after_claim", "days": validity.days}
        if validity.days is not None
        else {"kind": "fixed", "valid_from": _iso(validity.valid_from), "valid_until": _iso(validity.valid_until)},
        "stock": definition.stock,
        "claim_from": _iso(definition.claim_from),
        "claim_until": _iso(definition.claim_until),
        "per_member_limit": definition.per_member_limit,
        "per_member_daily_limit": definition.per_member_daily_limit,
        "tiers": list(definition.tiers),
    }


def terms_to_dict(terms: Terms) -> dict[str, Any]:
    benefit = terms.benefit
    return {
        "name": terms.name,
        "description": terms.description,
        "benefit": {"kind": benefit.kind.value} | {name: getattr(benefit, name) for name in _KIND_FIELDS[benefit.kind]},
        "scope": {
            "skus": list(terms.scope.skus),
            "categories": list(terms.scope.categories),
            "stores": list(terms.scope.stores),
        },
        "channel": terms.channel.value,
        "stacking": {
            "group": terms.stacking.group,
            "exclusive": terms.stacking.exclusive,
            "with_points": terms.stacking.with_points,
        },
    }


def _benefit(data: dict[str, Any]) -> Benefit:
    kind = _choice(data.get("kind"), Kind, "benefit.kind")
    allowed = _KIND_FIELDS[kind]
    extra = sorted(name for name, value in data.items() if name != "kind" and name not in allowed and value)
    if extra:
        raise InvalidInput(f"a {kind.value} coupon has no {extra[0]}", field=f"benefit.{extra[0]}")
    amount_needed = kind in (Kind.AMOUNT_OFF, Kind.VOUCHER, Kind.NO_THRESHOLD)
    return Benefit(
        kind=kind,
        threshold_fen=_int(
            data.get("threshold_fen", 0), "benefit.threshold_fen", 1 if kind == Kind.AMOUNT_OFF else 0, MAX_FEN
        ),
        amount_off_fen=_int(
            data.get("amount_off_fen", 1 if amount_needed else 0),
            "benefit.amount_off_fen",
            1 if amount_needed else 0,
            MAX_FEN,
        ),
        rate_percent=_int(data.get("rate_percent", 0), "benefit.rate_percent", 1 if kind == Kind.PERCENTAGE else 0, 99),
        cap_fen=_int(data.get("cap_fen"), "benefit.cap_fen", 1, MAX_FEN, optional=True),
        gift_sku=_item(data.get("gift_sku"), "benefit.gift_sku") if kind == Kind.GIFT else None,
        gift_name=_text(data.get("gift_name"), "benefit.gift_name", 32, optional=True),
    )


def _validity(data: dict[str, Any]) -> Validity:
    kind = data.get("kind")
    if kind == "days_after_claim":
        return Validity(days=_int(data.get("days"), "validity.days", 1, MAX_DAYS))
    if kind != "fixed":
        raise InvalidInput("validity is fixed or days_after_claim", field="validity.kind")
    start = _when(data.get("valid_from"), "validity.valid_from", optional=False)
    return Validity(
        valid_from=start, valid_until=_when(data.get("valid_until"), "validity.valid_until", optional=False)
    )


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput("an object is required", field=name)
    return value


def _int(value: Any, name: str, low: int, high: int, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"an integer from {low} to {high}", field=name)
    return value


def _text(value: Any, name: str, longest: int, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise InvalidInput(f"1-{longest} characters", field=name)
    return value.strip()


def _item(value: Any, name: str) -> str:
    if not isinstance(value, str) or not ITEM.match(value):
        raise InvalidInput("1-64 of A-Z a-z 0-9 _ - : .", field=name)
    return value


def _items(value: Any, name: str, most: int, pattern: re.Pattern[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or len(value) > most:
        raise InvalidInput(f"a list of at most {most}", field=name)
    if not all(isinstance(item, str) and pattern.match(item) for item in value):
        raise InvalidInput(f"each item matches {pattern.pattern}", field=name)
    return tuple(dict.fromkeys(value))


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput("true or false", field=name)
    return value


def _choice(value: Any, kind: type[Any], name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(f"one of {', '.join(item.value for item in kind)}", field=name) from None


def _when(value: Any, name: str, *, optional: bool = True) -> datetime | None:
    if value is None and optional:
        return None
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput("an ISO 8601 instant with its offset", field=name) from None
    if moment.tzinfo is None:
        raise InvalidInput("an ISO 8601 instant with its offset", field=name)
    return moment


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
