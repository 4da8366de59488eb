"""Publishing a programme in tests: the configured one with one section changed."""

from __future__ import annotations

from typing import Any


def publish_with(section: str, changes: dict[str, Any]) -> None:
    from chalicelib.domain.programme import Programme
    from chalicelib.services import programme
    from chalicelib.store import programme_repo

    document = programme.configured().model_dump(mode="json")
    document[section] = {**document[section], **changes}
    valid = Programme.model_validate(document, strict=False).model_dump(mode="json")
    programme_repo.publish(programme_repo.current_version(), valid, "t", "tests", None)
    programme.forget()
