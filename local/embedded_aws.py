"""The embedded AWS: moto's server on 127.0.0.1, one request at a time.

moto applies a TransactWriteItems without a lock, so two concurrent transactions can
interleave and lose writes; DynamoDB never does. Serialising requests restores the
atomicity our ledger relies on (proved by tests/reliability/test_concurrency.py).

moto also backs up every table a transaction touches with a deep copy, once per item,
which makes each transaction cost O(table size): a ledger of a few thousand entries
slows every write tenfold. Because requests are serialised, backing up only the items
the transaction names gives the same all-or-nothing result (see `_item_backups`).

A cancelled transaction also leaves no record on a table's stream (the outbox relies on it),
and a transaction takes 100 items, as DynamoDB does since 2022 (moto still says 25).

moto's SQS reads the clock through a datetime round trip for every message it looks at, so a
ReceiveMessage on a queue of 1,000 took 1.75 s; the same milliseconds from `time.time()` take
0.06 s (`_unix_time_millis`).
"""

from __future__ import annotations

import argparse
import copy
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import moto.dynamodb.responses
import moto.sqs.models
from moto.core.utils import unix_time_millis as _moto_unix_time_millis
from moto.dynamodb.models import DynamoDBBackend, DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

from local.processes import TRUNCATE_PATH

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


_snapshotting = threading.local()
_original_transact = DynamoDBBackend.transact_write_items


def _table_deepcopy(self: Table, memo: dict[int, Any]) -> Table:
    if getattr(_snapshotting, "active", False):
        return self  # rolled back item by item instead, see below
    clone = Table.__new__(Table)
    memo[id(self)] = clone
    for name, value in self.__dict__.items():
        setattr(clone, name, copy.deepcopy(value, memo))
    return clone


def _item_backups(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[tuple[Table, Any, Any, Any]]:
    backups = []
    for wrapped in transact_items:
        op = next(iter(wrapped.values()))
        table = backend.tables.get(op.get("TableName", ""))
        if table is None:
            continue
        key = op.get("Key") or {
            name: op["Item"][name]
            for name in (table.hash_key_attr, table.range_key_attr)
            if name and name in op["Item"]
        }
        if table.hash_key_attr not in key:
            continue
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
        bucket = table.items.get(hash_value)
        current = bucket.get(range_value) if range_value is not None and bucket is not None else bucket
        backups.append((table, hash_value, range_value, copy.deepcopy(current)))
    return backups


def _restore(backups: list[tuple[Table, Any, Any, Any]]) -> None:
    for table, hash_value, range_value, item in reversed(backups):
        if range_value is None:
            if item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item
        elif item is None:
            table.items.get(hash_value, {}).pop(range_value, None)
        else:
            table.items[hash_value][range_value] = item


def _stream_lengths(backend: DynamoDBBackend) -> list[tuple[Any, int]]:
    return [(t.stream_shard, len(t.stream_shard.items)) for t in backend.tables.values() if t.stream_shard is not None]


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    backups = _item_backups(self, transact_items)
    streams = _stream_lengths(self)
    _snapshotting.active = True
    try:
        _original_transact(self, transact_items)
    except Exception:
        _restore(backups)
        for shard, length in streams:  # a cancelled transaction leaves no stream record either
            del shard.items[length:]
        raise
    finally:
        _snapshotting.active = False


def _unix_time_millis(dt: Any = None) -> float:
    return time.time() * 1000.0 if dt is None else float(_moto_unix_time_millis(dt))


Table.__deepcopy__ = _table_deepcopy  # type: ignore[attr-defined]
moto.dynamodb.responses.TRANSACTION_MAX_ITEMS = 100  # DynamoDB's limit since 2022; moto still says 25
moto.sqs.models.unix_time_millis = _unix_time_millis  # type: ignore[assignment]
DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]


def truncate() -> list[str]:
    """Empty every table (items and stream) and every queue, keeping the tables: what a test
    needs between tests, in milliseconds, where `/moto-api/reset` and creating ~40 tables
    again took half a second. A table's stream starts anew (a new ARN), as a new table's
    would, so a stream reader starts over. Returns the names of the tables kept."""
    from moto.dynamodb.models import dynamodb_backends
    from moto.sqs.models import sqs_backends

    names = []
    for regions in dynamodb_backends.values():
        for backend in regions.values():
            for table in backend.tables.values():
                table.items.clear()
                if table.stream_shard is not None:
                    table.set_stream_specification(table.stream_specification)
                names.append(table.name)
    for regions in sqs_backends.values():
        for backend in regions.values():
            backend.reset()
    return sorted(names)


class SerializedApp:
    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            if environ.get("PATH_INFO") == TRUNCATE_PATH and environ.get("REQUEST_METHOD") == "POST":
                body = json.dumps({"tables": truncate()}).encode()
                start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
                return [body]
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
