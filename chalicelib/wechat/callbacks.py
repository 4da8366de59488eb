"""Callback crypto, parsing and replies for the official account (公众号) and WeChat Work (企业微信).

wechatpy checks signatures, decrypts and encrypts (`wechatpy.utils.check_signature`,
`wechatpy.crypto.WeChatCrypto`, `wechatpy.enterprise.crypto.WeChatCrypto`) and renders replies
(`TextReply`). XML is parsed by defusedxml, never by a parser that honours DTDs: a body with a
DOCTYPE or entities (XXE, billion laughs) is refused before anything reads it. The parsed tree
already holds every field, so wechatpy's own parser, which renames subscribe events and answers
`UnknownMessage` for WeChat Work's contact events, is not needed on top.

Modes (公众号): with no EncodingAESKey configured, plaintext (`signature` over token, timestamp
and nonce). With a key, WeChat sends `encrypt_type=aes` in both compatible and safe mode and
`msg_signature` covers the ciphertext; a request without it is refused, because a plaintext
signature does not cover the body and could be replayed with another one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.callbacks import MP, WORK, Inbound
from chalicelib.domain.errors import Forbidden, InvalidInput
from chalicelib.security.signatures import EPOCH_SECONDS
from chalicelib.settings import Settings

MAX_SKEW_SECONDS = 300  # a signed request older than this is a replay, not a WeChat retry
SUCCESS = "success"  # WeChat's "received, no reply"
# WeChat sends UTF-8 and no declaration; a declared encoding other than UTF-8 is not WeChat's.
_DECLARED_ENCODING = re.compile(rb"""\A\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


@dataclass(frozen=True)
class Opened:
    inbound: Inbound
    seal: Callable[[str | None, int], str]  # (reply text or None, now) → response body


def mp_handshake(params: Mapping[str, str], settings: Settings, now: int) -> str:
    """URL verification (GET): the echostr back when the signature is right."""
    _check_plain_signature(params, settings.wechat_mp_token, now)
    return _param(params, "echostr")


def open_mp(params: Mapping[str, str], body: bytes, settings: Settings, now: int) -> Opened:
    outer = _parse(body)
    if not settings.wechat_mp_aes_key:
        _check_plain_signature(params, settings.wechat_mp_token, now)
        inbound = _inbound(MP, outer)
        return Opened(inbound, lambda reply, _now: _text_reply(inbound, reply) if reply else SUCCESS)
    if params.get("encrypt_type") != "aes":
        raise Forbidden("encrypt_type=aes is required in safe and compatible mode", field="encrypt_type")
    from wechatpy.crypto import WeChatCrypto

    crypto = WeChatCrypto(settings.wechat_mp_token, settings.wechat_mp_aes_key, settings.wechat_mp_appid)
    inbound = _inbound(MP, _parse(_decrypt(crypto, outer, params, now)))
    nonce = _param(params, "nonce")

    def seal(reply: str | None, moment: int) -> str:
        return str(crypto.encrypt_message(_text_reply(inbound, reply), nonce, str(moment))) if reply else SUCCESS

    return Opened(inbound, seal)


def work_handshake(params: Mapping[str, str], settings: Settings, now: int) -> str:
    """URL verification (GET): only the decrypted echostr, within WeChat Work's 1 s budget."""
    from wechatpy.enterprise.exceptions import InvalidCorpIdException
    from wechatpy.exceptions import InvalidSignatureException

    _check_timestamp(params, now)
    try:
        plain = _work_crypto(settings).check_signature(
            _param(params, "msg_signature"),
            _param(params, "timestamp"),
            _param(params, "nonce"),
            _param(params, "echostr"),
        )
    except (InvalidSignatureException, InvalidCorpIdException) as error:
        raise Forbidden("bad msg_signature", field="msg_signature") from error
    except ValueError as error:  # not base64, or a wrong padding: not made by WeChat
        raise Forbidden("echostr does not decrypt", field="echostr") from error
    return str(plain)


def open_work(params: Mapping[str, str], body: bytes, settings: Settings, now: int) -> Inbound:
    return _inbound(WORK, _parse(_decrypt(_work_crypto(settings), _parse(body), params, now)))


def _work_crypto(settings: Settings) -> Any:
    from wechatpy.enterprise.crypto import WeChatCrypto

    return WeChatCrypto(settings.wechat_work_token, settings.wechat_work_aes_key, settings.wechat_work_corpid)


def _decrypt(crypto: Any, outer: dict[str, str], params: Mapping[str, str], now: int) -> bytes:
    from wechatpy.enterprise.exceptions import InvalidCorpIdException
    from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

    _check_timestamp(params, now)
    if not outer.get("Encrypt"):
        raise InvalidInput("Encrypt is missing", field="Encrypt")
    try:
        plain = crypto.decrypt_message(
            {"Encrypt": outer["Encrypt"]},
            _param(params, "msg_signature"),
            _param(params, "timestamp"),
            _param(params, "nonce"),
        )
    except InvalidSignatureException as error:
        raise Forbidden("bad msg_signature", field="msg_signature") from error
    except (InvalidAppIdException, InvalidCorpIdException) as error:
        raise Forbidden("the message is for another account", field="Encrypt") from error
    except (ValueError, UnicodeDecodeError) as error:  # signed, yet not our ciphertext
        raise Forbidden("Encrypt does not decrypt", field="Encrypt") from error
    return plain.encode("utf-8") if isinstance(plain, str) else bytes(plain)


def _check_plain_signature(params: Mapping[str, str], token: str, now: int) -> None:
    from wechatpy.exceptions import InvalidSignatureException
    from wechatpy.utils import check_signature

    _check_timestamp(params, now)
    try:
        check_signature(token, _param(params, "signature"), _param(params, "timestamp"), _param(params, "nonce"))
    except InvalidSignatureException as error:
        raise Forbidden("bad signature", field="signature") from error


def _check_timestamp(params: Mapping[str, str], now: int) -> None:
    stamp = _param(params, "timestamp")
    if not _is_epoch(stamp) or abs(int(stamp) - now) > MAX_SKEW_SECONDS:
        raise Forbidden("timestamp is not current", field="timestamp")


def _is_epoch(value: str) -> bool:
    """1-12 ASCII digits, as POS timestamps are checked."""
    return EPOCH_SECONDS.fullmatch(value) is not None


def _param(params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if not value:
        raise Forbidden(f"{name} is missing", field=name)
    return value


def _parse(body: bytes) -> dict[str, str]:
    """Top-level fields of `<xml>…</xml>` as text; DTDs, entities and malformed XML are refused."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    declared = _DECLARED_ENCODING.match(body)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise InvalidInput("XML must be UTF-8", field="body")
    try:
        root = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as error:
        raise InvalidInput("XML with a DTD or entities is refused", field="body") from error
    except (ParseError, ValueError, LookupError) as error:  # LookupError: an encoding Python does not know
        raise InvalidInput("body is not well-formed XML", field="body") from error
    if root.tag != "xml":
        raise InvalidInput("the root element must be <xml>", field="body")
    return {child.tag: (child.text or "").strip() for child in root}


def _inbound(app: str, fields: dict[str, str]) -> Inbound:
    msg_type = fields.get("MsgType", "").lower()
    if not msg_type:
        raise InvalidInput("MsgType is missing", field="MsgType")
    stamp = fields.get("CreateTime", "")
    if not _is_epoch(stamp):
        raise InvalidInput("CreateTime must be a number", field="CreateTime")
    return Inbound(
        app=app,
        msg_type=msg_type,
        event=fields.get("Event", "").lower() if msg_type == "event" else "",
        from_user=fields.get("FromUserName", ""),
        to_user=fields.get("ToUserName", ""),
        create_time=int(stamp),
        msg_id="" if msg_type == "event" else fields.get("MsgId", ""),
        fields=fields,
    )


def _text_reply(inbound: Inbound, content: str) -> str:
    from wechatpy.replies import TextReply

    return str(TextReply(source=inbound.to_user, target=inbound.from_user, content=content).render())
