"""The programme in force, cached per process, and its versions.

`current()` answers from memory for `PROGRAMME_CACHE_SECONDS` (30 s by default): a warm
request reads nothing, a container re-reads the head (one GetItem) when its copy is older, and
the version itself only when the head moved; so a published change is in force everywhere
within that time. Before any version is published the programme is the one the deployment's
configuration describes (the tiers file and the earning settings).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.clock import epoch_seconds, iso
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.domain.programme import Programme


@dataclass
class _Cached:
    version: int | None
    programme: Programme
    read_at: float


_cache: _Cached | None = None
_lock = threading.Lock()


def current() -> Programme:
    return current_with_version()[1]


def current_with_version() -> tuple[int | None, Programme]:
    global _cache
    now = epoch_seconds()
    cached = _cache
    if cached is not None and now - cached.read_at < get_settings().programme_cache_seconds:
        return cached.version, cached.programme
    with _lock:
        from chalicelib.domain.programme import Programme
        from chalicelib.store import programme_repo

        version = programme_repo.current_version()
        if cached is not None and cached.version == version:
            _cache = _Cached(version, cached.programme, now)
        else:
            stored = programme_repo.get(version) if version is not None else None
            programme = Programme.model_validate(stored.document, strict=False) if stored else configured()
            _cache = _Cached(version, programme, now)
        return _cache.version, _cache.programme


def forget() -> None:
    """Drop the cached copy (tests; a container sees changes by time alone)."""
    global _cache
    _cache = None


def configured() -> Programme:
    """The programme of the deployment's configuration: tiers from the tiers file, earning and
    expiry from settings. What runs until an operator publishes a version."""
    from chalicelib.domain.programme import Programme
    from chalicelib.services.tiers import configured_tiers

    settings = get_settings()
    tiers = [
        {
            "code": tier["code"],
            "name": tier["name"],
            "min_growth": tier["min_growth"],
            "work_tag_id": tier.get("work_tag_id"),
            "benefits": {"birthday_points": tier.get("birthday_gift_points", 0)},
        }
        for tier in configured_tiers()
    ]
    return Programme.model_validate(
        {
            "name": "configured",
            "default_tier": settings.default_tier_code,
            "tiers": tiers,
            "earning": {"points_per_unit": settings.earn_points_per_unit, "unit_fen": settings.earn_unit_fen},
            "points": {"expiry": settings.points_expiry_policy},
        },
        strict=False,
    )


def publish(programme: Programme, base_version: int | None, by: str, now: datetime, note: str | None) -> int:
    from chalicelib.store import audit_repo, programme_repo

    check_coupon_templates(programme)
    before_version, before = current_with_version()
    document = programme.model_dump(mode="json")
    changes = diff(before.model_dump(mode="json"), document)
    audit_repo.describe(
        target="programme:default",
        before={"version": before_version},
        after={"version": (base_version or 0) + 1, "changed": [change["path"] for change in changes][:50]},
    )
    version = programme_repo.publish(base_version, document, iso(now), by, note)
    forget()
    return version


def check_coupon_templates(programme: Programme) -> None:
    """The coupon templates tier benefits name exist (the birthday job and the packs would only
    log a misspelt id once a month): else 400 naming the field. Paused or sold out is allowed:
    those are states an operator changes, and the jobs count and log them."""
    from chalicelib.domain.errors import InvalidInput
    from chalicelib.store import coupon_templates_repo

    named: list[tuple[str, str]] = []
    for n, tier in enumerate(programme.tiers):
        prefix = f"programme.tiers.{n}.benefits"
        if tier.benefits.birthday_coupon_template:
            named.append((f"{prefix}.birthday_coupon_template", tier.benefits.birthday_coupon_template))
        named += [
            (f"{prefix}.monthly_coupons.{m}.template_id", p.template_id)
            for m, p in enumerate(tier.benefits.monthly_coupons)
        ]
    known: dict[str, bool] = {}
    for field, template_id in named:
        if template_id not in known:
            known[template_id] = coupon_templates_repo.find(template_id, consistent=False) is not None
        if not known[template_id]:
            raise InvalidInput(f"no coupon template {template_id}", field=field, code="coupon_template_unknown")


def diff(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """The leaves that differ, by dotted path (`tiers.1.benefits.discount_rate`)."""
    if isinstance(before, dict) and isinstance(after, dict):
        found: list[dict[str, Any]] = []
        for key in sorted(set(before) | set(after), key=str):
            found += diff(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            change for n, pair in enumerate(zip(before, after, strict=True)) for change in diff(*pair, f"{path}.{n}")
        ]
    return [] if before == after else [{"path": path, "before": before, "after": after}]
