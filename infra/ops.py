"""infra/ops.json: what a production stack needs around the functions Chalice declares.

Generated from code (`python -m chalicelib.cli infra ops`, `make infra`), like tables.json and
queues.json: the functions come from app.py, the tables from the PynamoDB models, the queues
from notify/queues.py, the IAM policy from .chalice/policy.json. A new function, table or queue
is covered by the next `make infra`, and a test fails while ops.json is stale.

- every name and ARN follows the stack (`${AWS::StackName}`, `${AWS::Partition}`): the same
  template deploys as any stack, in any region, China's included;
- the IAM policy of every function's role is .chalice/policy.json with `Fn::Sub` around each
  resource (Chalice would copy it verbatim);
- one log group per function with `LogRetentionDays`; alarms (infra/alarms.py) to the optional
  `AlarmTopicArn`; tags on tables, queues and log groups.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.alarms import alarms

ROOT = Path(__file__).resolve().parents[1]
POLICY_FILE = ROOT / ".chalice" / "policy.json"
CONFIG_FILE = ROOT / ".chalice" / "config.json"
CLOUD_STAGES = ("dev", "prod")
# Valid CloudWatch Logs retention values, in days.
RETENTION_DAYS = [
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
]
QUEUE, DEAD_LETTER_QUEUE = "EventsQueue", "EventsDeadLetterQueue"


@dataclass(frozen=True)
class LambdaFunction:
    """One function of `chalice package`'s template, named as Chalice names it."""

    name: str  # as in app.py / config.json: "events-worker", "api_handler"
    logical_id: str  # "EventsWorker", "APIHandler"
    role_id: str  # "EventsWorkerRole", "ApiHandlerRole"
    trigger: str  # "http", "schedule", "sqs", "dynamodb", "direct"
    event_source_id: str | None  # "EventsWorkerSqsEventSource"


def lambda_functions(app: Any) -> list[LambdaFunction]:
    from chalice.app import CloudWatchEventConfig, DynamoDBEventConfig, ScheduledEventConfig, SQSEventConfig
    from chalice.utils import to_cfn_resource_name as cfn

    found = []
    if app.routes:
        found.append(LambdaFunction("api_handler", "APIHandler", cfn("api_handler_role"), "http", None))
    # Chalice's suffixes for the event sources it declares (chalice/deploy/appgraph.py).
    kinds: dict[type, tuple[str, str]] = {
        ScheduledEventConfig: ("schedule", "event"),
        CloudWatchEventConfig: ("schedule", "event"),
        SQSEventConfig: ("sqs", "sqs-event-source"),
        DynamoDBEventConfig: ("dynamodb", "dynamodb-event-source"),
    }
    for source in app.event_sources:
        kind = next((kinds[k] for k in kinds if isinstance(source, k)), None)
        if kind is None:
            raise SystemExit(f"{type(source).__name__} {source.name}: teach infra/ops.py its event source")
        trigger, suffix = kind
        found.append(
            LambdaFunction(
                source.name, cfn(source.name), cfn(f"{source.name}_role"), trigger, cfn(f"{source.name}-{suffix}")
            )
        )
    for function in app.pure_lambda_functions:
        found.append(LambdaFunction(function.name, cfn(function.name), cfn(f"{function.name}_role"), "direct", None))
    return found


def chalice_config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(CONFIG_FILE.read_text(encoding="utf-8"))
    return config


def tags() -> list[dict[str, Any]]:
    return [{"Key": "app", "Value": chalice_config()["app_name"]}, {"Key": "stack", "Value": {"Ref": "AWS::StackName"}}]


def parameters() -> dict[str, Any]:
    return {
        "AlarmTopicArn": {
            "Type": "String",
            "Default": "",
            "Description": "SNS topic for alarm and OK notifications; empty: alarms without actions",
        },
        "LogRetentionDays": {
            "Type": "Number",
            "Default": 90,
            "AllowedValues": RETENTION_DAYS,
            "Description": "Days CloudWatch Logs keep each function's log group",
        },
        "SecretsPath": {
            "Type": "String",
            "AllowedPattern": "^(/[A-Za-z0-9_.-]+)+$",
            "Description": "SSM Parameter Store path of this stack's secrets, without the trailing slash, e.g. /wxmember/prod",
        },
    }


def function_environment() -> dict[str, Any]:
    """Names of this stack's resources: what config.json must not hard-code."""
    return {
        "TABLE_PREFIX": {"Fn::Sub": "${AWS::StackName}-"},
        "EVENTS_QUEUE_NAME": {"Fn::GetAtt": [QUEUE, "QueueName"]},
        "EVENTS_DLQ_NAME": {"Fn::GetAtt": [DEAD_LETTER_QUEUE, "QueueName"]},
        "SECRETS_SSM_PATH": {"Fn::Sub": "${SecretsPath}/"},
        # The `service` dimension of our EMF metrics and the key on every log line: one per stack.
        "POWERTOOLS_SERVICE_NAME": {"Ref": "AWS::StackName"},
    }


def policy_document() -> dict[str, Any]:
    """.chalice/policy.json with every `${...}` resource wrapped in Fn::Sub."""
    document: dict[str, Any] = json.loads(POLICY_FILE.read_text(encoding="utf-8"))

    def sub(resource: str) -> Any:
        return {"Fn::Sub": resource} if "${" in resource else resource

    for statement in document["Statement"]:
        resources = statement["Resource"]
        statement["Resource"] = [sub(r) for r in resources] if isinstance(resources, list) else sub(resources)
    return document


def resources(functions: list[LambdaFunction], tables: list[str], queues: list[str]) -> dict[str, Any]:
    document = policy_document()
    found: dict[str, Any] = {}
    for function in functions:
        found[function.logical_id] = {"Properties": {"Environment": {"Variables": function_environment()}}}
        policy = {"PolicyName": f"{function.role_id}Policy", "PolicyDocument": document}
        found[function.role_id] = {"Properties": {"Policies": [policy]}}
        found[f"{function.logical_id}LogGroup"] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{function.logical_id}}}"},
                "RetentionInDays": {"Ref": "LogRetentionDays"},
                "Tags": tags(),
            },
        }
    if any(f.trigger == "http" for f in functions):
        # The API's name is the stack's, so its CloudWatch metrics (by ApiName) are this stack's only.
        title = {"info": {"title": {"Fn::Sub": "${AWS::StackName}"}}}
        found["RestAPI"] = {"Properties": {"TracingEnabled": True, "DefinitionBody": title}}
    for logical_id in tables + queues:
        found[logical_id] = {"Properties": {"Tags": tags()}}
    return found


def template(app: Any, tables: list[str], queues: list[str]) -> dict[str, Any]:
    if not {QUEUE, DEAD_LETTER_QUEUE} <= set(queues):
        raise SystemExit(f"infra/ops.py expects the queues {QUEUE} and {DEAD_LETTER_QUEUE}")
    functions = lambda_functions(app)
    namespace = chalice_config()["environment_variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    stages = {chalice_config()["stages"][s].get("api_gateway_stage", "api") for s in CLOUD_STAGES}
    if len(stages) != 1:
        raise SystemExit(f"the cloud stages {CLOUD_STAGES} must share one api_gateway_stage, not {sorted(stages)}")
    return {
        "Parameters": parameters(),
        "Conditions": {"HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}},
        "Resources": {
            **resources(functions, tables, queues),
            **alarms(functions, tables, namespace=namespace, api_stage=stages.pop()),
        },
    }
