"""One middleware for every invocation: log keys, the correlation id, and metrics flushed in
every kind of Lambda (API, schedules, SQS), not only the HTTP one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from chalice import Chalice, Rate
from chalice.test import Client

from chalicelib import observability
from chalicelib.observability import current_correlation_id, lambda_middleware, logger, metrics


def _seen() -> dict[str, Any]:
    keys = logger.thread_safe_get_current_keys()
    return {"correlation_id": current_correlation_id(), **{k: keys.get(k) for k in ("aws_request_id", "cold_start")}}


@pytest.fixture
def app() -> Chalice:
    app = Chalice(app_name="ops-probe", configure_logs=False)
    app.register_middleware(lambda_middleware, "all")

    @app.route("/probe")
    def probe() -> dict[str, Any]:
        return _seen()

    @app.schedule(Rate(5, unit=Rate.MINUTES), name="probe-job")
    def job(event: Any) -> dict[str, Any]:
        metrics.add_metric(name="ProbeJobRuns", unit="Count", value=1)
        return _seen()

    @app.on_sqs_message(queue="probe-queue", name="probe-worker")
    def worker(event: Any) -> dict[str, Any]:
        seen = []
        for record in event:
            observability.bind_correlation_id(json.loads(record.body).get("correlation_id"))
            metrics.add_metric_with_dimensions(name="ProbeSent", unit="Count", value=1, dimensions={"status": "sent"})
            seen.append(current_correlation_id())
        metrics.add_metric(name="ProbeDeadLettered", unit="Count", value=1)
        return {"seen": seen}

    return app


@pytest.fixture
def in_lambda(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "probe")
    metrics.clear_metrics()  # what earlier tests added outside Lambda, where nothing flushes
    yield
    metrics.clear_metrics()


def _emf(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]


def test_http_request_takes_the_callers_correlation_id_and_answers_with_it(app: Chalice) -> None:
    with Client(app, stage_name="test") as client:
        response = client.http.get("/probe", headers={"X-Correlation-Id": "pos-42.retry:1"})

    assert response.json_body["correlation_id"] == "pos-42.retry:1"
    assert response.headers["X-Correlation-Id"] == "pos-42.retry:1"
    assert response.json_body["aws_request_id"], "the Lambda request id is on every log line"
    assert current_correlation_id() is None, "nothing is left bound for the next invocation"


def test_http_request_without_a_usable_header_uses_api_gateways_request_id(app: Chalice) -> None:
    event = {
        "resource": "/probe",
        "path": "/probe",
        "httpMethod": "GET",
        "headers": {"X-Request-Id": "not a plain id; <script>"},
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {"requestId": "apigw-req-7", "resourcePath": "/probe", "httpMethod": "GET", "path": "/probe"},
        "body": None,
    }
    context = SimpleNamespace(aws_request_id="lambda-req-9", function_name="probe")

    body = json.loads(app(event, context)["body"])

    assert body["correlation_id"] == "apigw-req-7"
    assert body["aws_request_id"] == "lambda-req-9"


def test_schedule_logs_eventbridge_event_id_and_flushes_its_metrics(
    app: Chalice, in_lambda: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with Client(app, stage_name="test") as client:
        event = client.events.generate_cw_event("aws.events", "Scheduled Event", {}, [])
        result = client.lambda_.invoke("probe-job", event).payload

    assert result["correlation_id"] == event["id"]
    assert result["cold_start"] in (True, False)
    [document] = [d for d in _emf(capsys.readouterr().out) if "ProbeJobRuns" in d]
    assert document["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] == "ProbeJobRuns"


def test_sqs_worker_binds_each_records_correlation_id_and_flushes_one_metric_with_a_status_dimension(
    app: Chalice, in_lambda: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bodies = [json.dumps({"correlation_id": "req-a"}), json.dumps({}), json.dumps({"correlation_id": "req-b"})]
    with Client(app, stage_name="test") as client:
        result = client.lambda_.invoke("probe-worker", client.events.generate_sqs_event(bodies)).payload

    assert result["seen"] == ["req-a", None, "req-b"], "a record without one does not inherit the previous one"
    documents = _emf(capsys.readouterr().out)
    [sent] = [d for d in documents if "ProbeSent" in d]
    assert sent["ProbeSent"] == [1.0, 1.0, 1.0] and sent["status"] == "sent"
    # `service` (the stack's name in Lambda) is on every metric: the alarms select by it.
    assert sorted(sent["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == ["service", "status"]
    [dead] = [d for d in documents if "ProbeDeadLettered" in d]
    assert dead["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]], "status stays on its own metric"
    assert current_correlation_id() is None


def test_nothing_is_flushed_outside_lambda(app: Chalice, capsys: pytest.CaptureFixture[str]) -> None:
    with Client(app, stage_name="test") as client:
        client.lambda_.invoke("probe-job", client.events.generate_cw_event("aws.events", "Scheduled Event", {}, []))

    assert _emf(capsys.readouterr().out) == []
    metrics.clear_metrics()
