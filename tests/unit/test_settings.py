"""Settings: typed from the environment, secrets from a file, bad values named."""

from pathlib import Path

import pytest

from chalicelib.settings import load_settings


def test_environment_values_are_typed() -> None:
    settings = load_settings({"EARN_UNIT_FEN": "10000", "POS_CLIENTS": '{"pos": "s"}', "WECHAT_TIMEOUT_SECONDS": "2.5"})
    assert settings.earn_unit_fen == 10000
    assert settings.pos_clients == {"pos": "s"}
    assert settings.wechat_timeout_seconds == 2.5


@pytest.mark.parametrize(("name", "value"), [("EARN_UNIT_FEN", "abc"), ("EARN_UNIT_FEN", "0"), ("POS_CLIENTS", "{")])
def test_bad_setting_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        load_settings({name: value})


def test_secrets_file_fills_secrets_but_the_environment_wins(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("# local only\nJWT_SECRET=from-file\nPHONE_HASH_KEY=file-hash\nSTAGE=ignored\n")
    settings = load_settings({"SECRETS_FILE": str(secrets), "PHONE_HASH_KEY": "from-env"})
    assert settings.jwt_secret == "from-file"
    assert settings.phone_hash_key == "from-env"
    assert settings.stage == "local"  # only secrets come from the file


def test_settings_without_secrets_never_read_the_secrets_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text("JWT_SECRET=from-file\n")
    assert load_settings({"SECRETS_FILE": str(secrets)}, with_secrets=False).jwt_secret == ""
