"""Programme versions (ProgrammeVersionModel). A new version and the head's move to it are
one transaction conditioned on the version it was based on: two operators editing at once
cannot silently overwrite each other (the second is a 409 and re-reads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import IdempotencyConflict
from chalicelib.settings import get_settings
from chalicelib.store.models import ProgrammeVersionModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

PROGRAMME_ID = "default"
HEAD = 0


@dataclass(frozen=True)
class StoredVersion:
    version: int
    document: dict[str, Any]
    created_at: str
    created_by: str
    note: str | None


def current_version() -> int | None:
    try:
        head = ProgrammeVersionModel.get(PROGRAMME_ID, HEAD, consistent_read=True)
    except ProgrammeVersionModel.DoesNotExist:
        return None
    return int(head.current) if head.current is not None else None


def get(version: int) -> StoredVersion | None:
    try:
        item = ProgrammeVersionModel.get(PROGRAMME_ID, version)  # versions never change: any read will do
    except ProgrammeVersionModel.DoesNotExist:
        return None
    return _stored(item)


def history(limit: int, before: int | None) -> list[StoredVersion]:
    condition = ProgrammeVersionModel.version.between(1, before - 1) if before else ProgrammeVersionModel.version > HEAD
    items = ProgrammeVersionModel.query(PROGRAMME_ID, condition, scan_index_forward=False, limit=limit)
    return [_stored(item) for item in items]


def publish(base: int | None, document: dict[str, Any], created_at: str, created_by: str, note: str | None) -> int:
    """Writes version base+1 and moves the head to it, if the head still names `base`."""
    version = (base or HEAD) + 1
    uow = UnitOfWork(get_settings().region)
    item = ProgrammeVersionModel(
        PROGRAMME_ID, version, document=document, created_at=created_at, created_by=created_by, note=note
    )
    uow.put("version", item, condition=ProgrammeVersionModel.version.does_not_exist())
    head_is = ProgrammeVersionModel.current.does_not_exist() if base is None else ProgrammeVersionModel.current == base
    uow.update("head", ProgrammeVersionModel(PROGRAMME_ID, HEAD), [ProgrammeVersionModel.current.set(version)], head_is)
    try:
        uow.commit()
    except TransactionFailed as error:
        if error.failed("head") or error.failed("version"):
            raise IdempotencyConflict(
                f"the programme changed since version {base}: read it again", field="base_version"
            ) from error
        raise
    return version


def _stored(item: ProgrammeVersionModel) -> StoredVersion:
    return StoredVersion(int(item.version), dict(item.document or {}), item.created_at or "", item.created_by or "",
                         item.note)  # fmt: skip
