"""The stack's CloudWatch alarms (part of infra/ops.json), each to the `AlarmTopicArn` SNS topic
when one is given (alarm and OK), or without actions when it is empty.

What each one means and what to do is in the README ("Deploy", "Alarms"). Thresholds are here,
in one place; every alarm treats missing data as fine (no traffic, no alarm).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.ops import LambdaFunction

PERIOD = 300
API_5XX_RATE = 0.05  # of requests, two 5-minute periods running
API_P99_LATENCY_MS = 3000  # three 5-minute periods running; WeChat gives a callback 5 s
QUEUE_OLDEST_MESSAGE_SECONDS = 900
STREAM_ITERATOR_AGE_MS = 300_000  # the outbox relay 5 minutes behind: events are late
# EMF metrics our code emits (namespace POWERTOOLS_METRICS_NAMESPACE, dimension service = stack).
EMF_ALARMS = {
    "EventsDeadLettered": "events were dead-lettered (permanent WeChat refusal or unreadable): `cli dlq list`",
    "OutboxRecordsUnreadable": "the outbox relay skipped records it could not read: those events were never queued",
}


def _actions() -> dict[str, Any]:
    topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    return {"ActionsEnabled": True, "AlarmActions": topic, "OKActions": topic, "TreatMissingData": "notBreaching"}


def _metric(namespace: str, name: str, dimensions: dict[str, Any]) -> dict[str, Any]:
    return {
        "Namespace": namespace,
        "MetricName": name,
        "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()],
    }


def _alarm(
    logical_id: str,
    description: str,
    metric: dict[str, Any],
    threshold: float,
    *,
    statistic: str = "Sum",
    periods: int = 1,
) -> tuple[str, dict[str, Any]]:
    properties: dict[str, Any] = {
        "AlarmName": {"Fn::Sub": f"${{AWS::StackName}}-{logical_id}"},
        "AlarmDescription": description,
        **metric,
        "EvaluationPeriods": periods,
        "DatapointsToAlarm": periods,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        **_actions(),
    }
    if "Metrics" not in metric:  # a metric math alarm has its periods and statistics inside
        properties["Period"] = PERIOD
        properties["ExtendedStatistic" if statistic.startswith("p") else "Statistic"] = statistic
    return f"{logical_id}Alarm", {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


def _function_alarms(function: LambdaFunction) -> list[tuple[str, dict[str, Any]]]:
    name = function.logical_id
    dimensions = {"FunctionName": {"Ref": name}}
    found = [
        _alarm(f"{name}Errors", f"{name}: invocations failed", _metric("AWS/Lambda", "Errors", dimensions), 0),
        _alarm(f"{name}Throttles", f"{name}: invocations throttled", _metric("AWS/Lambda", "Throttles", dimensions), 0),
    ]
    if function.trigger == "dynamodb":
        metric = _metric("AWS/Lambda", "IteratorAge", dimensions)
        found.append(
            _alarm(
                f"{name}IteratorAge",
                f"{name}: the stream is read late",
                metric,
                STREAM_ITERATOR_AGE_MS,
                statistic="Maximum",
            )
        )
    return found


def _table_throttles(table: str) -> tuple[str, dict[str, Any]]:
    """One alarm per table: read + write throttle events + throttled transactions."""

    def stat(metric_id: str, name: str, **extra: str) -> dict[str, Any]:
        metric = _metric("AWS/DynamoDB", name, {"TableName": {"Ref": table}, **extra})
        return {"Id": metric_id, "MetricStat": {"Metric": metric, "Period": PERIOD, "Stat": "Sum"}, "ReturnData": False}

    expression = {
        "Id": "throttles",
        "Expression": "FILL(reads, 0) + FILL(writes, 0) + FILL(transactions, 0)",
        "Label": f"{table} throttled reads, writes and transactions",
        "ReturnData": True,
    }
    metrics = [
        stat("reads", "ReadThrottleEvents"),
        stat("writes", "WriteThrottleEvents"),
        stat("transactions", "ThrottledRequests", Operation="TransactWriteItems"),
        expression,
    ]
    return _alarm(f"{table}Throttles", f"{table}: DynamoDB throttled requests", {"Metrics": metrics}, 0)


def _queue_alarms() -> list[tuple[str, dict[str, Any]]]:
    dlq = {"QueueName": {"Fn::GetAtt": ["EventsDeadLetterQueue", "QueueName"]}}
    queue = {"QueueName": {"Fn::GetAtt": ["EventsQueue", "QueueName"]}}
    return [
        _alarm(
            "EventsDeadLetterQueueDepth",
            "events wait in the dead-letter queue: `cli dlq list`, then `cli dlq redrive` once fixed",
            _metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", dlq),
            0,
            statistic="Maximum",
        ),
        _alarm(
            "EventsQueueOldestMessage",
            "the events queue is not drained: the worker is failing, throttled or too few",
            _metric("AWS/SQS", "ApproximateAgeOfOldestMessage", queue),
            QUEUE_OLDEST_MESSAGE_SECONDS,
            statistic="Maximum",
            periods=2,
        ),
    ]


def _api_alarms(api_stage: str) -> list[tuple[str, dict[str, Any]]]:
    dimensions = {"ApiName": {"Ref": "AWS::StackName"}, "Stage": api_stage}
    return [
        _alarm(
            "Api5xxRate",
            f"more than {API_5XX_RATE:.0%} of API requests answered 5xx",
            _metric("AWS/ApiGateway", "5XXError", dimensions),
            API_5XX_RATE,
            statistic="Average",
            periods=2,
        ),
        _alarm(
            "ApiLatencyP99",
            f"API p99 latency above {API_P99_LATENCY_MS} ms",
            _metric("AWS/ApiGateway", "Latency", dimensions),
            API_P99_LATENCY_MS,
            statistic="p99",
            periods=3,
        ),
    ]


def alarms(functions: list[LambdaFunction], tables: list[str], *, namespace: str, api_stage: str) -> dict[str, Any]:
    found: list[tuple[str, dict[str, Any]]] = []
    for function in functions:
        found += _function_alarms(function)
    if any(f.trigger == "http" for f in functions):
        found += _api_alarms(api_stage)
    found += _queue_alarms()
    found += [_table_throttles(table) for table in tables]
    service = {"service": {"Ref": "AWS::StackName"}}
    for name, description in EMF_ALARMS.items():
        found.append(_alarm(name, description, _metric(namespace, name, service), 0))
    return dict(found)
