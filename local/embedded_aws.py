"""The embedded AWS: moto's server on 127.0.0.1, one request at a time.

moto applies a TransactWriteItems without a lock, so two concurrent transactions can
interleave and lose writes; DynamoDB never does. Serialising requests restores the
atomicity our ledger relies on (proved by tests/reliability/test_concurrency.py).
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerializedApp:
    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            # Materialise the body inside the lock: moto builds it lazily from shared state.
            return list(self._app(environ, start_response))


def start_embedded_aws(host: str = "127.0.0.1", port: int = 0) -> tuple[BaseWSGIServer, str]:
    app = SerializedApp(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, name="embedded-aws", daemon=True).start()
    return server, f"http://{host}:{server.server_port}"


def main() -> None:
    parser = argparse.ArgumentParser(description="embedded AWS (moto) on 127.0.0.1")
    parser.add_argument("--port", type=int, default=5100)
    args = parser.parse_args()
    server = make_server(
        "127.0.0.1",
        args.port,
        SerializedApp(DomainDispatcherApplication(create_backend_app)),
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    print(f"embedded AWS on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
