"""`make run`: the whole stack on 127.0.0.1 with demo data, no AWS account, no internet.

embedded AWS (moto, serialized) :5100 · fake WeChat API :8090 · API (`chalice local`) :8000.
`--check` starts everything, loads the demo, checks it, stops everything: what CI runs.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from local.demo import load_demo
from local.processes import start_process, stop_process, wait_for_http

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def ensure_secrets(path: Path) -> None:
    """Fresh random secrets on first run; never overwritten, never in git (.local/)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    values = {
        "JWT_SECRET": secrets.token_urlsafe(32),
        "PHONE_ENC_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "PHONE_HASH_KEY": secrets.token_urlsafe(32),
        "WECHAT_MINI_SECRET": secrets.token_hex(16),
        "POS_CLIENTS": json.dumps({"demo-pos": secrets.token_urlsafe(24)}),
        "OPERATORS": json.dumps({"alice": secrets.token_urlsafe(16), "bob": secrets.token_urlsafe(16)}),
    }
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()), encoding="utf-8")
    path.chmod(0o600)


def stack_env(secrets_file: Path, aws_port: int, wechat_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_DEV"))}
    env.update(
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{aws_port}",
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION="us-east-1",
        WECHAT_API_BASE=f"http://127.0.0.1:{wechat_port}",
        TABLE_PREFIX="wxmember-local-",
        SECRETS_FILE=str(secrets_file),
        POWERTOOLS_TRACE_DISABLED="true",
    )
    return env


class Stack:
    def __init__(self, local_dir: Path, quiet: bool) -> None:
        self.ports = {
            "aws": _port("LOCAL_AWS_PORT", 5100),
            "wechat": _port("LOCAL_WECHAT_PORT", 8090),
            "api": _port("LOCAL_API_PORT", 8000),
        }
        self.secrets_file = local_dir / "secrets.env"
        self.quiet = quiet
        self.children: list[subprocess.Popen[bytes]] = []
        self.env = stack_env(self.secrets_file, self.ports["aws"], self.ports["wechat"])

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['api']}"

    def start(self) -> None:
        ensure_secrets(self.secrets_file)
        for name, port in self.ports.items():
            _require_free(name, port)
        py = sys.executable
        self._spawn([py, "-m", "local.embedded_aws", "--port", str(self.ports["aws"])], "/moto-api/", "aws")
        self._spawn([py, "-m", "local.fake_wechat", "--port", str(self.ports["wechat"])], "/_calls", "wechat")
        subprocess.run([py, "-m", "chalicelib.cli", "create-tables"], env=self.env, cwd=ROOT, check=True)
        chalice = [
            str(BIN / "chalice"),
            "local",
            "--stage",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.ports["api"]),
            "--no-autoreload",
        ]
        self._spawn(chalice, "/openapi.json", "api")

    def _spawn(self, argv: list[str], probe: str, name: str) -> None:
        process = start_process(argv, quiet=self.quiet, env=self.env)
        self.children.append(process)
        wait_for_http(f"http://127.0.0.1:{self.ports[name]}{probe}", process, timeout=60)

    def stop(self) -> None:
        for process in reversed(self.children):
            stop_process(process)
        self.children.clear()

    def watch(self) -> int:
        while True:
            for process in self.children:
                if process.poll() is not None:
                    print(
                        f"process {process.pid} ({process.args[2] if len(process.args) > 2 else process.args}) "
                        f"exited with {process.returncode}; stopping the stack",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(0.5)


def _require_free(name: str, port: int) -> None:
    import socket

    with socket.socket() as sock:
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} ({name}) is busy: stop what runs there or set LOCAL_{name.upper()}_PORT")


def self_check(stack: Stack, token: str) -> bool:
    import urllib.request

    request = urllib.request.Request(f"{stack.api_url}/v1/me", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        balance = json.loads(response.read())["points"]["balance"]
    reconcile = subprocess.run(
        [sys.executable, "-m", "chalicelib.cli", "reconcile"], env=stack.env, cwd=ROOT, capture_output=True, text=True
    )
    print(f"self-check: alice balance={balance}; {reconcile.stdout.strip()}")
    return balance > 0 and reconcile.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="start, load demo, self-check, stop")
    args = parser.parse_args()
    stack = Stack(Path(os.environ.get("LOCAL_DIR", ROOT / ".local")).resolve(), quiet=args.check)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
        token = load_demo(stack.api_url, stack.secrets_file)
        if args.check:
            ok = self_check(stack, token)
            print("self-check passed" if ok else "self-check FAILED")
            return 0 if ok else 1
        _print_try(stack, token)
        return stack.watch()
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


def _print_try(stack: Stack, token: str) -> None:
    api, wechat = stack.api_url, f"http://127.0.0.1:{stack.ports['wechat']}"
    print(
        f"""
wxmember is running (Ctrl-C stops everything).
  API            {api}            OpenAPI: {api}/openapi.json
  embedded AWS   http://127.0.0.1:{stack.ports["aws"]}
  fake WeChat    {wechat}      calls it received: {wechat}/_calls
  secrets        {stack.secrets_file}

Try:
  curl -s -X POST {api}/v1/auth/login -H 'Content-Type: application/json' -d '{{"code": "demo:carol"}}'
  TOKEN={token}
  curl -s {api}/v1/me -H "Authorization: Bearer $TOKEN"
  curl -s '{api}/v1/me/points/ledger?limit=5' -H "Authorization: Bearer $TOKEN"
  curl -s -X POST {api}/v1/me/points/redemptions -H "Authorization: Bearer $TOKEN" \\
       -H 'Content-Type: application/json' -H 'Idempotency-Key: try-1' -d '{{"points": 50, "reason": "gift"}}'
  .venv/bin/python -m local.pos_call POST /v1/orders \\
       '{{"order_id": "TRY-1", "member": {{"openid": "o_alice"}}, "amount_fen": 9900, "paid_at": "2026-11-22T10:00:00+08:00"}}'
  make reconcile
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
