"""DynamoDB Streams, read the way Lambda's event source reads them, for the local worker and tests.

`StreamTail(table)` follows the one shard of a table's stream on the embedded AWS (moto keeps
one shard per table) from the oldest record; `pump(function)` hands new records, in Lambda's
event shape and in order, to a stream function and moves on past them, except when the
function reports `batchItemFailures`: then it rewinds to the first failed record, which
comes again next time (as Lambda retries a shard from the failed sequence number).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3

from chalicelib.settings import get_settings

Handler = Callable[[dict[str, Any], Any], Any]
BATCH = 100  # the relay's event source batch size in the cloud


class StreamTail:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        self._stream_arn: str | None = None
        self._next_sequence: int | None = None  # the first sequence number not yet handled
        self._lock = threading.Lock()
        self._client_pair: tuple[Any, Any] | None = None

    def _clients(self) -> tuple[Any, Any]:
        """Built once per tail: the worker polls every half second."""
        if self._client_pair is None:
            region = get_settings().region
            self._client_pair = (
                boto3.client("dynamodb", region_name=region),
                boto3.client("dynamodbstreams", region_name=region),
            )
        return self._client_pair

    def pump(self, function: Handler) -> int:
        """One read of up to BATCH records handed to `function`; returns the records handed."""
        with self._lock:
            dynamodb, streams = self._clients()
            try:
                arn = dynamodb.describe_table(TableName=self.table_name)["Table"].get("LatestStreamArn")
            except dynamodb.exceptions.ResourceNotFoundException:
                return 0  # not created yet (the stack is starting)
            if arn is None:
                return 0
            if arn != self._stream_arn:  # a new table (tests reset the embedded AWS): start over
                self._stream_arn, self._next_sequence = arn, None
            shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            if self._next_sequence is None:
                where = {"ShardIteratorType": "TRIM_HORIZON"}
            else:
                where = {"ShardIteratorType": "AT_SEQUENCE_NUMBER", "SequenceNumber": str(self._next_sequence)}
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, **where)["ShardIterator"]
            records = streams.get_records(ShardIterator=iterator, Limit=BATCH)["Records"]
            if not records:
                return 0
            for record in records:
                record["eventSourceARN"] = arn
            failed = _failed_sequence(function, records)
            self._next_sequence = failed if failed is not None else int(records[-1]["dynamodb"]["SequenceNumber"]) + 1
            return len(records) if failed is None else 0


def _failed_sequence(function: Handler, records: list[dict[str, Any]]) -> int | None:
    try:
        result = function({"Records": records}, None) or {}
    except Exception as error:  # noqa: BLE001 - like Lambda: the batch comes again
        print(f"worker: stream batch failed: {error!r}", flush=True)
        return int(records[0]["dynamodb"]["SequenceNumber"])
    failures = [int(item["itemIdentifier"]) for item in result.get("batchItemFailures", [])]
    return min(failures) if failures else None
