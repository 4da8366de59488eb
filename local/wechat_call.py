"""Play WeChat's servers against the local API: sign, encrypt and POST a callback.

    python -m local.wechat_call subscribe mp_alice [--scene store_S001]
    python -m local.wechat_call text mp_alice 积分
    python -m local.wechat_call click mp_alice MY_POINTS
    python -m local.wechat_call contact add_external_contact wm_alice [--staff staff_a]

Official-account callbacks go in safe mode (encrypted, as a brand should configure it), WeChat
Work callbacks encrypted as WeChat Work always sends them; keys come from the local secrets file
(`$LOCAL_DIR/secrets.env`, written by `make run`). The reply is decrypted and printed the way
WeChat would read it. The builders are shared with the tests (`tests/support/wechat.py`).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from chalicelib.clock import epoch_seconds
from chalicelib.settings import Settings, load_settings
from local.pos_call import http_json

ROOT = Path(__file__).resolve().parents[1]
MP_ACCOUNT = "gh_wxmember_demo"  # the official account's original id (ToUserName)


@dataclass(frozen=True)
class Keys:
    token: str
    aes_key: str
    app_id: str  # appid (official account) or corpid (WeChat Work)


def signature(*parts: str) -> str:
    from wechatpy.utils import WeChatSigner

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
    fields = {"ToUserName": MP_ACCOUNT, "FromUserName": openid, "CreateTime": create_time or int(epoch_seconds())}
    return xml({**fields, "MsgType": "event", "Event": event, **extra})


def mp_text(openid: str, content: str, msg_id: int, create_time: int | None = None) -> str:
    fields = {"ToUserName": MP_ACCOUNT, "FromUserName": openid, "CreateTime": create_time or int(epoch_seconds())}
    return xml({**fields, "MsgType": "text", "Content": content, "MsgId": msg_id})


def contact_change(
    corpid: str, change_type: str, external_userid: str, userid: str, create_time: int | None = None
) -> str:
    fields = {"ToUserName": corpid, "FromUserName": "sys", "CreateTime": create_time or int(epoch_seconds())}
    extra = {"ChangeType": change_type, "UserID": userid, "ExternalUserID": external_userid}
    return xml({**fields, "MsgType": "event", "Event": "change_external_contact", **extra})


def mp_safe(keys: Keys, plain: str, *, nonce: str = "n0nce", timestamp: int | None = None) -> tuple[str, str]:
    """(path with query, body) of a safe-mode POST, as WeChat sends it."""
    from wechatpy.crypto import WeChatCrypto

    stamp = str(timestamp or int(epoch_seconds()))
    encrypted = _encrypt_field(WeChatCrypto(keys.token, keys.aes_key, keys.app_id), plain, nonce, stamp)
    query = {
        "signature": signature(keys.token, stamp, nonce),
        "timestamp": stamp,
        "nonce": nonce,
        "openid": "ignored",
        "encrypt_type": "aes",
        "msg_signature": signature(keys.token, stamp, nonce, encrypted),
    }
    body = f"<xml><ToUserName><![CDATA[{MP_ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return f"/wechat/mp?{urlencode(query)}", body


def work_post(keys: Keys, plain: str, *, nonce: str = "w0nce", timestamp: int | None = None) -> tuple[str, str]:
    from wechatpy.enterprise.crypto import WeChatCrypto

    stamp = str(timestamp or int(epoch_seconds()))
    encrypted = _encrypt_field(WeChatCrypto(keys.token, keys.aes_key, keys.app_id), plain, nonce, stamp)
    query = {"msg_signature": signature(keys.token, stamp, nonce, encrypted), "timestamp": stamp, "nonce": nonce}
    body = (
        f"<xml><ToUserName><![CDATA[{keys.app_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
        "<AgentID><![CDATA[1]]></AgentID></xml>"
    )
    return f"/wechat/work?{urlencode(query)}", body


def read_mp_reply(keys: Keys, body: str) -> dict[str, str]:
    """Decrypt (when encrypted) and parse our reply as WeChat does; {} for "success"."""
    from wechatpy.crypto import WeChatCrypto
    from xmltodict import parse

    if body in ("success", ""):
        return {}
    if "<Encrypt>" in body:
        outer = parse(body)["xml"]
        crypto = WeChatCrypto(keys.token, keys.aes_key, keys.app_id)
        body = crypto.decrypt_message(body, outer["MsgSignature"], outer["TimeStamp"], outer["Nonce"])
    return dict(parse(body)["xml"])


def mp_keys(settings: Settings) -> Keys:
    return Keys(settings.wechat_mp_token, settings.wechat_mp_aes_key, settings.wechat_mp_appid)


def work_keys(settings: Settings) -> Keys:
    return Keys(settings.wechat_work_token, settings.wechat_work_aes_key, settings.wechat_work_corpid)


def _encrypt_field(crypto: Any, plain: str, nonce: str, stamp: str) -> str:
    from xmltodict import parse

    return str(parse(crypto.encrypt_message(plain, nonce, stamp))["xml"]["Encrypt"])


def _plain(args: argparse.Namespace, settings: Settings) -> str:
    if args.kind == "subscribe":
        return mp_event(args.who, "subscribe", **({"EventKey": f"qrscene_{args.scene}"} if args.scene else {}))
    if args.kind == "text":
        return mp_text(args.who, args.value, msg_id=int(epoch_seconds() * 1_000_000))
    if args.kind == "click":
        return mp_event(args.who, "CLICK", EventKey=args.value or settings.wechat_mp_points_menu_key)
    return contact_change(settings.wechat_work_corpid, args.who, args.value, args.staff)


_WHERE = """\
where it sends, and the keys it uses (set them as you started `make run`):
  API      http://127.0.0.1:$LOCAL_API_PORT (default 8000), or $WXM_API when set (a whole base URL)
  keys     $LOCAL_DIR/secrets.env (default: .local/secrets.env in the repository), written by `make run`
  e.g.     LOCAL_API_PORT=8100 LOCAL_DIR=/tmp/wxm python -m local.wechat_call text mp_alice 积分
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.wechat_call",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_WHERE,
    )
    parser.add_argument("kind", choices=["subscribe", "text", "click", "contact"])
    parser.add_argument(
        "who", help="openid (fake WeChat: mp_<name> is the mini-program's demo:<name>), or for contact the ChangeType"
    )
    parser.add_argument(
        "value", nargs="?", default="", help="text, menu key, or for contact the external_userid (wm_<name>)"
    )
    parser.add_argument("--scene", help="QR scene of a subscribe, e.g. store_S001 or ref_<member id>")
    parser.add_argument("--staff", default="staff_a", help="contact: the staff userid")
    args = parser.parse_args(argv)
    secrets_file = Path(os.environ.get("LOCAL_DIR", ROOT / ".local")) / "secrets.env"
    if not secrets_file.exists():
        raise SystemExit(f"{secrets_file} not found: start the stack once with `make run`")
    settings = load_settings({"SECRETS_FILE": str(secrets_file)})
    plain = _plain(args, settings)
    if args.kind == "contact":
        path, body = work_post(work_keys(settings), plain)
    else:
        path, body = mp_safe(mp_keys(settings), plain)
    api = os.environ.get("WXM_API", f"http://127.0.0.1:{os.environ.get('LOCAL_API_PORT', '8000')}")
    status, answer = http_json(api, "POST", path, body.encode(), {"Content-Type": "text/xml"})
    if args.kind == "contact":
        shown: Any = answer or "(empty body: received)"
    else:
        shown = read_mp_reply(mp_keys(settings), answer) if isinstance(answer, str) else answer
    print(status, shown)
    return 0 if status < 400 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
