"""Hostile callbacks to `/wechat/mp` and `/wechat/work` are 4xx naming what is wrong, before anything is stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from chalicelib.clock import epoch_seconds
from chalicelib.settings import get_settings
from chalicelib.store.models import CallbackModel
from tests.support.api import Api
from tests.support.wechat import XML_HEADERS, contact_change, mp_event, mp_plain_query, mp_safe, work_post

UNKNOWN_ENCODING = '<?xml version="1.0" encoding="x-unknown"?>'
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def _stored() -> int:
    return sum(1 for _ in CallbackModel.scan())


def _fields(response: Any) -> list[str]:
    return [item["field"] for item in response.json_body["error"]["fields"]]


def _plaintext_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHAT_MP_AES_KEY", "")
    get_settings.cache_clear()


def _mp_outer(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    path, body = mp_safe(mp_event("mp_enc", "subscribe"))
    return path, UNKNOWN_ENCODING + body


def _mp_inner(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    return mp_safe(UNKNOWN_ENCODING + mp_event("mp_enc", "subscribe"))


def _mp_plaintext(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    _plaintext_mode(monkeypatch)
    return mp_plain_query(), UNKNOWN_ENCODING + mp_event("mp_enc", "subscribe")


def _work_outer(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    path, body = work_post(contact_change("add_external_contact", "wm_enc"))
    return path, UNKNOWN_ENCODING + body


def _work_inner(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    return work_post(UNKNOWN_ENCODING + contact_change("add_external_contact", "wm_enc"))


@pytest.mark.parametrize(
    "build",
    [_mp_outer, _mp_inner, _mp_plaintext, _work_outer, _work_inner],
    ids=["mp-body", "mp-encrypted-payload", "mp-plaintext-mode", "work-body", "work-encrypted-payload"],
)
def test_xml_declaring_an_unknown_encoding_is_400_naming_the_body_and_stores_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch, build: Callable[[pytest.MonkeyPatch], tuple[str, str]]
) -> None:
    path, body = build(monkeypatch)
    response = api.http.post(path, body=body, headers=XML_HEADERS)
    assert response.status_code == 400, response.body[:300]
    assert _fields(response) == ["body"]
    assert _stored() == 0


def _with_timestamp(path: str, stamp: str) -> str:
    parts = urlsplit(path)
    query = {name: value for name, value in parse_qsl(parts.query)}
    return f"{parts.path}?{urlencode({**query, 'timestamp': stamp})}"


STAMPS = {
    "superscript-two": lambda: "²",
    "arabic-indic-now": lambda: str(int(epoch_seconds())).translate(ARABIC_INDIC),
    "5000-digits": lambda: "9" * 5000,
    "13-digits": lambda: "1" * 13,
}


@pytest.mark.parametrize("stamp", list(STAMPS.values()), ids=list(STAMPS))
def test_wechat_timestamp_must_be_1_to_12_ascii_digits_else_403_naming_it(api: Api, stamp: Callable[[], str]) -> None:
    path, body = mp_safe(mp_event("mp_stamp", "subscribe"))
    work_path, work_body = work_post(contact_change("add_external_contact", "wm_stamp"))
    answers = [
        api.http.get(_with_timestamp(mp_plain_query() + "&echostr=x", stamp())),
        api.http.post(_with_timestamp(path, stamp()), body=body, headers=XML_HEADERS),
        api.http.post(_with_timestamp(work_path, stamp()), body=work_body, headers=XML_HEADERS),
        api.http.get(_with_timestamp("/wechat/work?msg_signature=x&nonce=n&echostr=x", stamp())),
    ]
    for response in answers:
        assert response.status_code == 403, response.body[:300]
        assert _fields(response) == ["timestamp"]
    assert _stored() == 0


def test_create_time_in_unicode_digits_is_400_naming_create_time(api: Api) -> None:
    create_time = str(int(epoch_seconds())).translate(ARABIC_INDIC)
    plain = mp_event("mp_ct", "subscribe").replace(
        f"<CreateTime>{int(epoch_seconds())}</CreateTime>", f"<CreateTime>{create_time}</CreateTime>"
    )
    assert create_time in plain
    path, body = mp_safe(plain)
    response = api.http.post(path, body=body, headers=XML_HEADERS)
    assert response.status_code == 400 and _fields(response) == ["CreateTime"]
    assert _stored() == 0


@pytest.mark.parametrize("encoding", ["cp1252", "koi8-r", "raw_unicode_escape", "utf-16"])
def test_xml_declaring_an_encoding_other_than_utf8_is_400_naming_the_body(api: Api, encoding: str) -> None:
    path, body = mp_safe(f'<?xml version="1.0" encoding="{encoding}"?>' + mp_event("mp_cp", "subscribe"))
    response = api.http.post(path, body=body, headers=XML_HEADERS)
    assert response.status_code == 400 and _fields(response) == ["body"]
    assert _stored() == 0


def test_xml_declaring_utf8_is_read(api: Api) -> None:
    path, body = mp_safe('<?xml version="1.0" encoding="UTF-8"?>' + mp_event("mp_utf8", "subscribe"))
    assert api.http.post(path, body=body, headers=XML_HEADERS).status_code == 200
    assert _stored() == 1
