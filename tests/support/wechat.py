"""Build callbacks the way WeChat's servers sign and encrypt them, with wechatpy on the sending
side, and read our replies the way WeChat would."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WorkCrypto
from wechatpy.utils import WeChatSigner

from chalicelib.notify import consumer, events
from chalicelib.settings import get_settings
from tests.support.env import TEST_ENV

MP_ACCOUNT = "gh_test_account"
XML_HEADERS = {"Content-Type": "text/xml"}


def signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def xml(fields: dict[str, Any]) -> str:
    inner = "".join(
        f"<{name}>{value}</{name}>" if isinstance(value, int) else f"<{name}><![CDATA[{value}]]></{name}>"
        for name, value in fields.items()
    )
    return f"<xml>{inner}</xml>"


def mp_event(openid: str, event: str, create_time: int | None = None, **extra: Any) -> str:
    fields = {"ToUserName": MP_ACCOUNT, "FromUserName": openid, "CreateTime": create_time or int(time.time())}
    return xml({**fields, "MsgType": "event", "Event": event, **extra})


def mp_text(openid: str, content: str, msg_id: int, create_time: int | None = None) -> str:
    fields = {"ToUserName": MP_ACCOUNT, "FromUserName": openid, "CreateTime": create_time or int(time.time())}
    return xml({**fields, "MsgType": "text", "Content": content, "MsgId": msg_id})


def mp_crypto() -> WeChatCrypto:
    return WeChatCrypto(TEST_ENV["WECHAT_MP_TOKEN"], TEST_ENV["WECHAT_MP_AES_KEY"], TEST_ENV["WECHAT_MP_APPID"])


def work_crypto() -> WorkCrypto:
    return WorkCrypto(TEST_ENV["WECHAT_WORK_TOKEN"], TEST_ENV["WECHAT_WORK_AES_KEY"], TEST_ENV["WECHAT_WORK_CORPID"])


def mp_safe(plain: str, *, nonce: str = "n0nce", timestamp: int | None = None) -> tuple[str, str]:
    """(path with query, body) of a safe-mode POST, as WeChat sends it."""
    stamp = str(timestamp or int(time.time()))
    body = mp_crypto().encrypt_message(plain, nonce, stamp)
    encrypted = _field(body, "Encrypt")
    query = {
        "signature": signature(TEST_ENV["WECHAT_MP_TOKEN"], stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "openid": "ignored",
        "encrypt_type": "aes",
        "msg_signature": signature(TEST_ENV["WECHAT_MP_TOKEN"], stamp, nonce, encrypted),
    }
    return (
        f"/wechat/mp?{urlencode(query)}",
        f"<xml><ToUserName><![CDATA[{MP_ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>",
    )


def mp_plain_query(*, nonce: str = "n0nce", timestamp: int | None = None, token: str | None = None) -> str:
    stamp = str(timestamp or int(time.time()))
    sig = signature(token or TEST_ENV["WECHAT_MP_TOKEN"], stamp, nonce)
    return f"/wechat/mp?{urlencode({'signature': sig, 'timestamp': stamp, 'nonce': nonce, 'openid': 'x'})}"


def work_post(plain: str, *, nonce: str = "w0nce", timestamp: int | None = None) -> tuple[str, str]:
    stamp = str(timestamp or int(time.time()))
    encrypted = _field(work_crypto().encrypt_message(plain, nonce, stamp), "Encrypt")
    query = {
        "msg_signature": signature(TEST_ENV["WECHAT_WORK_TOKEN"], stamp, nonce, encrypted),
        "timestamp": stamp,
        "nonce": nonce,
    }
    corp = TEST_ENV["WECHAT_WORK_CORPID"]
    return (
        f"/wechat/work?{urlencode(query)}",
        f"<xml><ToUserName><![CDATA[{corp}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[1]]></AgentID></xml>",
    )


def contact_change(
    change_type: str, external_userid: str, userid: str = "staff_a", create_time: int | None = None
) -> str:
    corp = TEST_ENV["WECHAT_WORK_CORPID"]
    fields = {"ToUserName": corp, "FromUserName": "sys", "CreateTime": create_time or int(time.time())}
    extra = {"ChangeType": change_type, "UserID": userid, "ExternalUserID": external_userid}
    return xml({**fields, "MsgType": "event", "Event": "change_external_contact", **extra})


def read_mp_reply(body: str, *, nonce: str = "n0nce") -> dict[str, str]:
    """Decrypt (when encrypted) and parse our reply the way WeChat does; {} for "success"."""
    if body in ("success", ""):
        return {}
    if "<Encrypt>" in body:
        from xmltodict import parse

        outer = parse(body)["xml"]
        body = mp_crypto().decrypt_message(body, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
    from xmltodict import parse

    return dict(parse(body)["xml"])


def drain() -> list[dict[str, Any]]:
    """Every event on the events queue, removed from it."""
    url = events.queue_url(get_settings().events_queue_name)
    bodies: list[dict[str, Any]] = []
    while True:
        batch = events.sqs_client().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return bodies
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            events.sqs_client().delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def run_worker(rounds: int = 5) -> list[str]:
    """Drain the queue into the worker's handler until nothing new arrives; the kinds handled."""
    handled: list[str] = []
    for _ in range(rounds):
        batch = drain()
        if not batch:
            break
        for body in batch:
            consumer.handle_record(json.dumps(body))
            handled.append(str(body["kind"]))
    return handled


def _field(body: str, name: str) -> str:
    from xmltodict import parse

    return str(parse(body)["xml"][name])
