"""A warm container honours a rotated secret: settings (and SSM secrets) are re-read once older
than SECRETS_MAX_AGE_SECONDS, while a warm call costs only a clock read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from chalicelib import clock, settings
from chalicelib.settings import get_settings


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    """SSM's answer (the secret of the moment) and the reads made, with their max age."""
    state: dict[str, object] = {"secret": "mp-secret-v1", "reads": []}

    def read(path: str, max_age: int) -> dict[str, str]:
        state["reads"].append((path, max_age))  # type: ignore[attr-defined]
        return {"WECHAT_MP_SECRET": str(state["secret"])}

    monkeypatch.setattr(settings, "_read_ssm_secrets", read)
    monkeypatch.setenv("SECRETS_SSM_PATH", "/wxmember/test/")
    monkeypatch.delenv("WECHAT_MP_SECRET")  # the environment would win over SSM
    get_settings.cache_clear()
    yield state
    get_settings.cache_clear()


def test_rotated_secret_is_read_once_the_cached_settings_are_older_than_the_max_age(
    ssm: dict[str, object], pinned_clock: datetime
) -> None:
    assert get_settings().wechat_mp_secret == "mp-secret-v1"
    ssm["secret"] = "mp-secret-v2"

    clock.pin(pinned_clock + timedelta(seconds=299))
    assert get_settings().wechat_mp_secret == "mp-secret-v1", "a warm call within the max age reads nothing"
    clock.pin(pinned_clock + timedelta(seconds=301))
    assert get_settings().wechat_mp_secret == "mp-secret-v2"
    assert ssm["reads"] == [("/wxmember/test/", 300), ("/wxmember/test/", 300)]


def test_max_age_is_configurable_and_also_given_to_powertools_cache(
    ssm: dict[str, object], pinned_clock: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "60")
    get_settings()
    clock.pin(pinned_clock + timedelta(seconds=61))
    get_settings()

    assert ssm["reads"] == [("/wxmember/test/", 60), ("/wxmember/test/", 60)]


def test_cache_clear_forgets_and_a_clock_set_back_keeps_the_settings(
    ssm: dict[str, object], pinned_clock: datetime
) -> None:
    first = get_settings()
    clock.pin(pinned_clock - timedelta(days=1))
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings() is not first


def test_secrets_max_age_below_one_second_is_refused() -> None:
    with pytest.raises(ValueError, match="SECRETS_MAX_AGE_SECONDS"):
        settings.load_settings({"SECRETS_MAX_AGE_SECONDS": "0"}, with_secrets=False)
