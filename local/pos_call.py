"""Send a signed POS request to the local API: `python -m local.pos_call METHOD PATH [JSON]`.

Signs with the first client in POS_CLIENTS of the local secrets file (`$LOCAL_DIR/secrets.env`,
default `.local/secrets.env`, written by `make run`) and sends to 127.0.0.1:$LOCAL_API_PORT
(default 8000), or to $WXM_API (a whole base URL). Prints the status and the body; exits 1 on
a 4xx/5xx. Set LOCAL_API_PORT and LOCAL_DIR as you started `make run`:

    python -m local.pos_call POST /v1/orders '{"order_id": "T-1", "member": {"openid": "o_alice"}, "amount_fen": 9900, "paid_at": "'"$(date -Iseconds)"'"}'
    python -m local.pos_call POST /v1/orders/T-1/refund '{"refund_id": "T-1-R1", "amount_fen": 900}'
    LOCAL_API_PORT=8100 LOCAL_DIR=/tmp/wxm python -m local.pos_call POST /v1/orders/T-1/refund '{}'

paid_at is when the order was paid, with its UTC offset: a recent time, not one in the future.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from chalicelib.clock import epoch_seconds
from chalicelib.security.signatures import pos_signature
from chalicelib.settings import read_secrets_file

ROOT = Path(__file__).resolve().parents[1]


def pos_client(secrets_file: Path) -> tuple[str, str]:
    if not secrets_file.exists():
        raise SystemExit(f"{secrets_file} not found: start the stack once with `make run`")
    clients = json.loads(read_secrets_file(str(secrets_file)).get("POS_CLIENTS", "{}"))
    if not clients:
        raise SystemExit(f"no POS_CLIENTS in {secrets_file}")
    client_id, secret = next(iter(clients.items()))
    return str(client_id), str(secret)


def pos_request(api_url: str, method: str, path: str, body: bytes, secrets_file: Path) -> tuple[int, Any]:
    client_id, secret = pos_client(secrets_file)
    stamp = str(int(epoch_seconds()))
    headers = {
        "Content-Type": "application/json",
        "X-Client-Id": client_id,
        "X-Timestamp": stamp,
        # The path is signed as sent, without query string or host, as api/auth.py verifies it.
        "X-Signature": pos_signature(secret, method, path.split("?", 1)[0], stamp, body),
    }
    return http_json(api_url, method, path, body, headers)


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace")  # e.g. an HTML error page: show it as it is


def http_json(api_url: str, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(api_url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, _decode(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _decode(error.read())


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    method, path, payload = argv[0].upper(), argv[1], argv[2] if len(argv) == 3 else ""
    api_url = os.environ.get("WXM_API", f"http://127.0.0.1:{os.environ.get('LOCAL_API_PORT', '8000')}")
    secrets_file = Path(os.environ.get("LOCAL_DIR", ROOT / ".local")) / "secrets.env"
    try:
        status, body = pos_request(api_url, method, path, payload.encode(), secrets_file)
    except urllib.error.URLError as error:
        print(f"cannot reach {api_url}: {error.reason} (is `make run` running?)", file=sys.stderr)
        return 1
    print(status, json.dumps(body, ensure_ascii=False, indent=2))
    return 0 if status < 400 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
