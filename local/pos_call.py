"""Send a signed POS request to the local API: `python -m local.pos_call POST /v1/orders '{...}'`.

Signs with the first client in POS_CLIENTS of the local secrets file (see README, POS auth)."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from chalicelib.security.signatures import pos_signature
from chalicelib.settings import read_secrets_file

ROOT = Path(__file__).resolve().parents[1]


def pos_request(api_url: str, method: str, path: str, body: bytes, secrets_file: Path) -> tuple[int, Any]:
    client_id, secret = next(iter(json.loads(read_secrets_file(str(secrets_file))["POS_CLIENTS"]).items()))
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Client-Id": client_id,
        "X-Timestamp": stamp,
        "X-Signature": pos_signature(secret, method, path, stamp, body),
    }
    return http_json(api_url, method, path, body, headers)


def http_json(api_url: str, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(api_url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    method, path, payload = argv
    api_url = os.environ.get("WXM_API", f"http://127.0.0.1:{os.environ.get('LOCAL_API_PORT', '8000')}")
    secrets_file = Path(os.environ.get("LOCAL_DIR", ROOT / ".local")) / "secrets.env"
    status, body = pos_request(api_url, method.upper(), path, payload.encode(), secrets_file)
    print(status, json.dumps(body, ensure_ascii=False, indent=2))
    return 0 if status < 400 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
