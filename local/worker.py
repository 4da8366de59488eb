"""The local worker: what EventBridge and the SQS event source do for the Lambdas in the cloud.

It reads the entry points from `app.app.event_sources`, so a schedule or queue added to
`app.py` is picked up without touching this file:

- every scheduled function is called, like EventBridge calls it, in the UTC minutes its
  expression matches (`cron(M H * * ? *)`, `rate(N minutes)`; `schedule_due`);
- every DynamoDB stream function (the outbox relay) gets its table's new stream records in order,
  and the same records again from the first one it reports failed (`local/streams.py`);
- every SQS function gets batches of up to 10 records shaped like Lambda's, succeeded
  records are deleted, and those in `batchItemFailures` are made visible again soon, so SQS
  counts another receive; after the queue's maxReceiveCount SQS (moto) moves them to the DLQ.

`python -m local.worker [--port N]` runs until stopped, answers `GET /_status` with its
counters and `POST /_fire/NAME` by firing that schedule now (e.g. `curl -X POST
127.0.0.1:8091/_fire/campaigns`); `--once` drains the queues until they are empty and exits.
Polls never wait on the server (WaitTimeSeconds=0): the embedded AWS serves one request at
a time, and a long poll would stall the API behind it.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, ModuleType
from typing import Any

from chalicelib.clock import utc_now
from local.streams import StreamTail

Handler = Callable[[dict[str, Any], Any], Any]
RETRY_AFTER_SECONDS = 2  # a failed record is visible again this soon (the cloud waits VisibilityTimeout)
MAX_CATCH_UP_MINUTES = 60


def _field_matches(field: str, value: int) -> bool:
    """One cron field: `*`, `?`, `N`, `A-B`, `*/S`, or a comma list of those."""
    for part in field.split(","):
        base, _, step = part.partition("/")
        low, high = (0, 59) if base in ("*", "?") else (int(base.split("-")[0]), int(base.split("-")[-1]))
        if low <= value <= high and (value - low) % int(step or 1) == 0:
            return True
    return False


def schedule_due(expression: str, minute: datetime) -> bool:
    """Whether an EventBridge expression fires in this UTC minute. Supported: `cron(M H D Mo ? Y)`
    with day of week `?` or `*`, and `rate(N minute(s)|hour(s)|day(s))`, whose ticks fall on
    multiples of N minutes since the epoch."""
    kind, _, rest = expression.strip().partition("(")
    args = rest.rstrip(")").split()
    minute = minute.astimezone(UTC)
    if kind == "rate" and len(args) == 2:
        unit = {"minute": 1, "hour": 60, "day": 1440}.get(args[1].lower().rstrip("s"))
        if unit is None or int(args[0]) < 1:
            raise ValueError(f"unsupported rate: {expression}")
        return int(minute.timestamp() // 60) % (int(args[0]) * unit) == 0
    if kind == "cron" and len(args) == 6:
        minutes, hours, day, month, weekday, year = args
        if weekday not in ("?", "*"):
            raise ValueError(f"unsupported day of week in {expression}")
        values = (minute.minute, minute.hour, minute.day, minute.month)
        fields = (minutes, hours, day, month)
        return all(_field_matches(f, v) for f, v in zip(fields, values, strict=True)) and (
            year in ("*", "?") or _field_matches(year, minute.year)
        )
    raise ValueError(f"unsupported schedule expression: {expression}")


def _expression(config: Any) -> str:
    expression = config.schedule_expression
    return expression if isinstance(expression, str) else str(expression.to_string())


class Worker:
    def __init__(self, app_module: ModuleType, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        from chalice.app import DynamoDBEventConfig, ScheduledEventConfig, SQSEventConfig

        def handler(config: Any) -> Handler:
            function: Handler = getattr(app_module, config.handler_string.rpartition(".")[2])
            return function

        sources = app_module.app.event_sources
        self.schedules = [(c.name, _expression(c), handler(c)) for c in sources if isinstance(c, ScheduledEventConfig)]
        self.queues = [(c.queue, handler(c)) for c in sources if isinstance(c, SQSEventConfig)]
        self.streams = [
            (StreamTail(stream_table(c.stream_arn)), handler(c)) for c in sources if isinstance(c, DynamoDBEventConfig)
        ]
        self.retry_after = retry_after
        self.stats: Counter[str] = Counter()
        self.last_minute: datetime | None = None
        self.lock = threading.Lock()

    def count(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.stats[key] += n

    # Schedules -------------------------------------------------------------------------
    def tick(self, now: datetime) -> list[str]:
        """Fire the schedules due in the minutes since the last tick (this minute on the first)."""
        minute = now.astimezone(UTC).replace(second=0, microsecond=0)
        first = minute if self.last_minute is None else self.last_minute + timedelta(minutes=1)
        first = max(first, minute - timedelta(minutes=MAX_CATCH_UP_MINUTES))
        self.last_minute = minute
        fired = []
        while first <= minute:
            for name, expression, function in self.schedules:
                if schedule_due(expression, first):
                    self.fire(name, function, first)
                    fired.append(name)
            first += timedelta(minutes=1)
        return fired

    def fire(self, name: str, function: Handler, at: datetime) -> Any:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "000000000000",
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1",
            "resources": [f"arn:aws:events:us-east-1:000000000000:rule/{name}"],
            "detail": {},
        }
        try:
            result = function(event, None)
            self.count(f"fired:{name}")
            print(f"worker: {name} at {event['time']}: {json.dumps(result, default=str)}", flush=True)
            return result
        except Exception as error:  # noqa: BLE001 - a failing job must not stop the worker
            self.count(f"failed:{name}")
            print(f"worker: {name} failed: {error!r}", flush=True)
            return {"error": repr(error)}

    def fire_now(self, name: str) -> Any:
        """Fire one schedule now, as if its expression matched this minute (`POST /_fire/NAME`);
        None when no schedule has that name."""
        for schedule, _expression, function in self.schedules:
            if schedule == name:
                return self.fire(name, function, utc_now())
        return None

    # Queues ----------------------------------------------------------------------------
    def drain_once(self) -> int:
        """One read per table stream and one receive per queue, handed to their functions;
        returns the records and messages received."""
        received = 0
        for tail, function in self.streams:
            relayed = tail.pump(function)
            self.count("stream_records", relayed)
            received += relayed
        for queue, function in self.queues:
            received += self.drain_queue(str(queue), function)
        return received

    def drain(self, max_batches: int = 100_000) -> int:
        """Until every queue answers empty (failed records come back, up to maxReceiveCount)."""
        total = 0
        for _ in range(max_batches):
            received = self.drain_once()
            if not received:
                return total
            total += received
        return total

    def drain_queue(self, queue_name: str, function: Handler) -> int:
        from chalicelib.notify.events import queue_url, sqs_client

        client, url = sqs_client(), queue_url(queue_name)
        messages = client.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        failed = self._invoke(function, {"Records": [lambda_record(m, arn) for m in messages]})
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        if done:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
            client.delete_message_batch(QueueUrl=url, Entries=entries)
        if retry:
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_after}
                for i, m in enumerate(retry)
            ]
            client.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        self.count("received", len(messages))
        self.count("succeeded", len(done))
        self.count("failed", len(retry))
        return len(messages)

    def _invoke(self, function: Handler, event: dict[str, Any]) -> set[str]:
        """The ids the function reported failed; every id when it raised (Lambda retries the batch)."""
        try:
            result = function(event, None) or {}
        except Exception as error:  # noqa: BLE001 - like Lambda: the whole batch comes back
            print(f"worker: batch failed: {error!r}", flush=True)
            return {record["messageId"] for record in event["Records"]}
        return {str(item["itemIdentifier"]) for item in result.get("batchItemFailures", [])}


def stream_table(stream_arn: str) -> str:
    """`arn:…:table/NAME/stream/LABEL` → NAME: the local worker reads that table's stream."""
    return stream_arn.split(":table/", 1)[1].split("/", 1)[0]


def lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as the Lambda event source hands it to the function."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1", **message.get("Attributes", {})},
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }


def _serve_status(worker: Worker, port: int) -> ThreadingHTTPServer:
    class Status(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            with worker.lock:
                body = {"stats": dict(worker.stats), "schedules": [s[:2] for s in worker.schedules]}
            self._answer(200 if self.path == "/_status" else 404, body)

        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            """`POST /_fire/NAME`: run a schedule now, through the function EventBridge would call."""
            name = self.path.removeprefix("/_fire/")
            result = worker.fire_now(name) if self.path.startswith("/_fire/") else None
            if result is None:
                self._answer(404, {"error": f"no schedule {name!r}"})
            else:
                self._answer(200, result)

        def _answer(self, status: int, body: Any) -> None:
            payload = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _exit_on_term(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)  # unwinds: a running job releases its lease


def run_forever(worker: Worker, poll_seconds: float = 0.5) -> None:
    def schedules() -> None:
        while True:
            worker.tick(utc_now())
            time.sleep(1)

    threading.Thread(target=schedules, daemon=True).start()
    while True:
        if not worker.drain_once():
            time.sleep(poll_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8091, help="GET /_status on 127.0.0.1:PORT")
    parser.add_argument("--once", action="store_true", help="drain the queues until empty, then exit")
    args = parser.parse_args(argv)
    import app

    if args.once:
        worker = Worker(app, retry_after=0)
        worker.drain()
        print(json.dumps(dict(worker.stats), sort_keys=True))
        return 0
    signal.signal(signal.SIGTERM, _exit_on_term)
    worker = Worker(app)
    _serve_status(worker, args.port)
    print(f"worker: schedules {[s[:2] for s in worker.schedules]}; queues {[q[0] for q in worker.queues]}", flush=True)
    run_forever(worker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
