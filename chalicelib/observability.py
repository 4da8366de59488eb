"""Logger and metrics, created once, and the one Chalice middleware every invocation runs through.

`lambda_middleware` is registered for "all" event types (app.py): the API, the schedules, the
events worker and the outbox relay. Each invocation's log lines carry `aws_request_id`,
`cold_start` and `correlation_id`, and the metrics it added are flushed at its end (EMF lines on
stdout, which CloudWatch turns into metrics; nothing is flushed outside Lambda).

Tracing is Lambda's and API Gateway's own X-Ray integration (`xray: true` in
.chalice/config.json, `TracingEnabled` in infra/ops.json): no X-Ray SDK on the cold-start path.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from contextvars import ContextVar
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "wxmember"))
# urllib3 logs every URL at DEBUG, and WeChat's token and jscode2session URLs carry the
# AppSecret in the query string: keep it quiet whatever the root level is.
logging.getLogger("urllib3").setLevel(logging.WARNING)

CORRELATION_HEADERS = ("X-Correlation-Id", "X-Request-Id")
# A caller's id is taken only if it is short and plain: it lands on every log line.
_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_INVOCATION_KEYS = ("aws_request_id", "cold_start", "function_name", "correlation_id")


class AppMetrics(Metrics):
    """Powertools' Metrics, plus metrics with dimensions of their own.

    Powertools puts one dimension set on every metric of a flush, so a metric that varies by a
    dimension (`Notifications` by `status`) is kept apart, one EMF document per dimension set,
    and flushed with the rest by `flush_all`."""

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace=namespace)
        self._namespace = namespace
        self._by_dimensions: dict[tuple[tuple[str, str], ...], AmazonCloudWatchEMFProvider] = {}

    def add_metric_with_dimensions(self, name: str, unit: str, value: float, dimensions: dict[str, str]) -> None:
        key = tuple(sorted((k, str(v)) for k, v in dimensions.items()))
        group = self._by_dimensions.get(key)
        if group is None:
            group = AmazonCloudWatchEMFProvider(namespace=self._namespace)
            for dimension, dimension_value in key:
                group.add_dimension(name=dimension, value=dimension_value)
            self._by_dimensions[key] = group
        group.add_metric(name=name, unit=unit, value=value)

    def flush_all(self) -> None:
        if self.metric_set:
            self.flush_metrics()
        groups, self._by_dimensions = list(self._by_dimensions.values()), {}
        for group in groups:
            group.flush_metrics()


metrics = AppMetrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "wxmember"))

# The correlation id of the work in hand (a request, an SQS record): events staged in the outbox
# carry it, so one id follows a request through the outbox, the queue and the sender's logs.
_correlation: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_cold_start = True


def current_correlation_id() -> str | None:
    return _correlation.get()


def bind_correlation_id(value: str | None) -> None:
    """Sets the id for what follows (and on every log line), or clears it with None: the worker
    calls it per record with the event's `correlation_id`."""
    _correlation.set(value)
    _set_keys(correlation_id=value)


def _set_keys(**keys: object) -> None:
    # Thread-local keys: `chalice local` serves requests on threads, Lambda one at a time.
    current = {k: v for k, v in logger.thread_safe_get_current_keys().items() if k not in keys}
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(**current, **{k: v for k, v in keys.items() if v is not None})


def _is_http(event: Any) -> bool:
    return hasattr(event, "method") and hasattr(event, "headers") and hasattr(event, "lambda_context")


def http_correlation_id(event: Any) -> str:
    """The caller's X-Correlation-Id / X-Request-Id, else API Gateway's request id, else a new one."""
    headers = event.headers or {}
    for name in CORRELATION_HEADERS:
        value = headers.get(name)
        if value and _CORRELATION_ID.fullmatch(value):
            return str(value)
    request_id = (event.context or {}).get("requestId")
    return str(request_id) if request_id else uuid.uuid4().hex


def event_correlation_id(event: Any) -> str | None:
    """A schedule's: its `detail.correlation_id`, else EventBridge's event id. SQS and stream
    batches have none of their own: each record carries its event's (`bind_correlation_id`)."""
    raw = event.to_dict() if hasattr(event, "to_dict") else {}
    if not isinstance(raw, dict) or "Records" in raw:
        return None
    detail = raw.get("detail")
    from_detail = detail.get("correlation_id") if isinstance(detail, dict) else None
    value = from_detail or raw.get("id")
    return str(value) if value else None


def lambda_middleware(event: Any, get_response: Any) -> Any:
    """Every invocation: keys on the log lines, the correlation id bound, metrics flushed."""
    global _cold_start
    http = _is_http(event)
    context = event.lambda_context if http else getattr(event, "context", None)
    cold_start, _cold_start = _cold_start, False
    _set_keys(
        aws_request_id=getattr(context, "aws_request_id", None),
        function_name=getattr(context, "function_name", None),
        cold_start=cold_start,
    )
    bind_correlation_id(http_correlation_id(event) if http else event_correlation_id(event))
    try:
        return _handle_http(event, get_response) if http else get_response(event)
    finally:
        bind_correlation_id(None)
        _set_keys(**dict.fromkeys(_INVOCATION_KEYS))
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
            metrics.flush_all()


def _handle_http(event: Any, get_response: Any) -> Any:
    logger.append_keys(path=event.path, method=event.method)
    try:
        response = get_response(event)
        logger.info("request", extra={"status": response.status_code})
        if response.status_code >= 500:
            metrics.add_metric(name="ServerErrors", unit="Count", value=1)
        # The caller can quote it: the README's Logs Insights query finds the request by it.
        response.headers = {**(response.headers or {}), "X-Correlation-Id": current_correlation_id() or ""}
        return response
    finally:
        logger.remove_keys(["path", "method"])
