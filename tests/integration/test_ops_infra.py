"""The production template, checked from code (no `make package` needed): generated files are
current, nothing names a partition or a stack, every function has its log group and alarms, the
worker's concurrency is the event source's, and Chalice's merge of ours passes the package checks."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from chalice.package import TemplateDeepMerger

from chalicelib.cli import WORKER_EVENT_SOURCE, WORKER_FUNCTION, ops_template, queues_template
from infra.alarms import EMF_ALARMS
from infra.check_package import check_lock, check_python, check_template
from infra.merge_templates import merge, merge_templates
from infra.ops import lambda_functions

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text()
INFRA = re.search(r"^INFRA := (.*)$", MAKEFILE, re.M).group(1).split()  # type: ignore[union-attr]
RUNTIME = "python" + re.search(r"^LAMBDA_PYTHON := (\S+)$", MAKEFILE, re.M).group(1)  # type: ignore[union-attr]


def _app() -> Any:
    from app import app

    return app


def _merged() -> dict[str, Any]:
    return merge([str(ROOT / path) for path in INFRA])


def _chalice_like_template() -> dict[str, Any]:
    """What `chalice package --stage prod` emits for our functions, as far as names go: the
    config's environment, the policy file verbatim, the event sources with package-time names."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    environment = {**config["environment_variables"], **config["stages"]["prod"]["environment_variables"]}
    policy = json.loads((ROOT / ".chalice" / "policy.json").read_text())
    resources: dict[str, Any] = {}
    events = {
        "sqs": {"Type": "SQS", "Properties": {"Queue": {"Fn::Sub": "arn:${AWS::Partition}:sqs:x:y:local-events"}}},
        "dynamodb": {"Type": "DynamoDB", "Properties": {"Stream": "arn:aws:dynamodb:us-east-1:0:table/x/stream/y"}},
        "schedule": {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}},
    }
    for function in lambda_functions(_app()):
        properties: dict[str, Any] = {"Runtime": RUNTIME, "Environment": {"Variables": dict(environment)}}
        if function.event_source_id:
            properties["Events"] = {function.event_source_id: copy.deepcopy(events[function.trigger])}
        resources[function.logical_id] = {"Type": "AWS::Serverless::Function", "Properties": properties}
        role_policy = {"PolicyDocument": policy, "PolicyName": f"{function.role_id}Policy"}
        resources[function.role_id] = {"Type": "AWS::IAM::Role", "Properties": {"Policies": [role_policy]}}
    body = {"swagger": "2.0", "info": {"title": "wxmember"}, "paths": {}}
    resources["RestAPI"] = {"Type": "AWS::Serverless::Api", "Properties": {"DefinitionBody": body}}
    return {"Resources": resources}


def test_infra_ops_json_is_generated_from_the_app_the_models_and_the_policy_file() -> None:
    committed = json.loads((ROOT / "infra" / "ops.json").read_text())
    assert committed == ops_template(), "infra/ops.json is stale: run `make infra`"


def test_make_package_merges_every_committed_infra_template() -> None:
    assert sorted(INFRA) == sorted(f"infra/{p.name}" for p in (ROOT / "infra").glob("*.json"))


def test_merged_template_hard_codes_no_partition_and_no_stack_name() -> None:
    text = json.dumps(_merged()) + (ROOT / ".chalice" / "policy.json").read_text()
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    text += json.dumps([config["stages"][stage] for stage in ("dev", "prod")])
    for forbidden in ("arn:aws:", "wxmember-prod", "wxmember-dev"):
        assert forbidden not in text


def test_chalices_template_merged_with_ours_passes_the_package_checks() -> None:
    packaged = TemplateDeepMerger().merge(_merged(), _chalice_like_template())
    assert check_template(packaged, RUNTIME) == []


def test_package_check_names_a_function_ops_json_does_not_cover_and_a_hard_coded_arn() -> None:
    chalice = _chalice_like_template()
    chalice["Resources"]["NewJob"] = {"Type": "AWS::Serverless::Function", "Properties": {"Runtime": RUNTIME}}
    chalice["Resources"]["NewJobRole"] = {
        "Type": "AWS::IAM::Role",
        "Properties": {"Policies": [{"x": "arn:aws:s3:::b"}]},
    }
    problems = check_template(TemplateDeepMerger().merge(_merged(), chalice), RUNTIME)
    assert any("NewJob: no log group" in p for p in problems)
    assert any("NewJob: no NewJobErrorsAlarm" in p for p in problems)
    assert any("hard-coded 'arn:aws:'" in p for p in problems)


def test_every_function_has_a_log_group_with_the_retention_parameter_and_errors_and_throttles_alarms() -> None:
    resources = _merged()["Resources"]
    functions = lambda_functions(_app())
    assert {"APIHandler", "EventsWorker", "OutboxRelay", "ExpirePoints"} <= {f.logical_id for f in functions}
    for function in functions:
        log_group = resources[f"{function.logical_id}LogGroup"]["Properties"]
        assert log_group["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{function.logical_id}}}"}
        assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        for metric in ("Errors", "Throttles"):
            alarm = resources[f"{function.logical_id}{metric}Alarm"]["Properties"]
            assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", metric)
            assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function.logical_id}}]


def test_alarms_cover_the_dlq_the_api_each_table_and_our_emf_metrics_and_notify_only_a_given_topic() -> None:
    template = _merged()
    resources = template["Resources"]
    alarms = {rid: r["Properties"] for rid, r in resources.items() if r.get("Type") == "AWS::CloudWatch::Alarm"}
    tables = [rid for rid, r in resources.items() if r.get("Type") == "AWS::DynamoDB::Table"]

    assert alarms["EventsDeadLetterQueueDepthAlarm"]["Threshold"] == 0
    assert alarms["Api5xxRateAlarm"]["MetricName"] == "5XXError"
    assert alarms["ApiLatencyP99Alarm"]["ExtendedStatistic"] == "p99"
    assert all(f"{table}ThrottlesAlarm" in alarms for table in tables) and "OutboxTable" in tables
    for name in EMF_ALARMS:
        assert alarms[f"{name}Alarm"]["Namespace"] == "wxmember"
        assert alarms[f"{name}Alarm"]["Dimensions"] == [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}]
    topic = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert all(a["AlarmActions"] == topic and a["OKActions"] == topic for a in alarms.values())
    assert template["Parameters"]["AlarmTopicArn"]["Default"] == ""


@pytest.mark.parametrize("name", sorted(EMF_ALARMS))
def test_each_alarmed_emf_metric_is_emitted_by_the_code(name: str) -> None:
    sources = "".join(p.read_text() for p in (ROOT / "chalicelib").rglob("*.py"))
    assert f'add_metric(name="{name}"' in sources


def test_worker_concurrency_is_capped_by_the_event_source_not_by_reserved_concurrency() -> None:
    template = _merged()
    source = template["Resources"][WORKER_FUNCTION]["Properties"]["Events"][WORKER_EVENT_SOURCE]["Properties"]
    parameter = template["Parameters"]["WorkerMaxConcurrency"]

    assert source["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "WorkerMaxConcurrency"}}
    assert (parameter["Default"], parameter["MinValue"]) == (5, 2)
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    for stage in ("dev", "prod"):
        assert "reserved_concurrency" not in config["stages"][stage], "a stage-wide value would reach the worker"
        assert "reserved_concurrency" not in config["stages"][stage]["lambda_functions"].get("events-worker", {})


def test_tables_and_queues_are_tagged_and_each_role_gets_the_substituted_policy() -> None:
    resources = _merged()["Resources"]
    for rid, resource in resources.items():
        if resource.get("Type") in ("AWS::DynamoDB::Table", "AWS::SQS::Queue"):
            assert {"Key": "stack", "Value": {"Ref": "AWS::StackName"}} in resource["Properties"]["Tags"], rid
    [policy] = resources["EventsWorkerRole"]["Properties"]["Policies"]
    queues = next(s for s in policy["PolicyDocument"]["Statement"] if s["Sid"] == "EventQueues")
    assert queues["Resource"] == [{"Fn::Sub": "${EventsQueue.Arn}"}, {"Fn::Sub": "${EventsDeadLetterQueue.Arn}"}]


def test_merge_refuses_a_resource_declared_twice_and_a_property_set_to_two_values() -> None:
    table = {"Type": "AWS::DynamoDB::Table", "Properties": {"BillingMode": "PAY_PER_REQUEST"}}
    with pytest.raises(SystemExit, match="defined in more than one"):
        merge_templates([("a", {"Resources": {"T": table}}), ("b", {"Resources": {"T": table}})])
    other = {"Properties": {"BillingMode": "PROVISIONED"}}
    with pytest.raises(SystemExit, match="BillingMode is set by more than one"):
        merge_templates([("a", {"Resources": {"T": table}}), ("b", {"Resources": {"T": other}})])
    tags = {"Properties": {"Tags": [{"Key": "app", "Value": "wxmember"}]}}
    merged = merge_templates([("a", {"Resources": {"T": table}}), ("b", {"Resources": {"T": tags}})])
    assert merged["Resources"]["T"]["Properties"] == {"BillingMode": "PAY_PER_REQUEST", **tags["Properties"]}


def test_queues_json_declares_the_worker_concurrency_parameter() -> None:
    assert queues_template()["Parameters"]["WorkerMaxConcurrency"]["MinValue"] == 2


def test_lock_check_names_a_pin_the_lock_does_not_match_and_an_entry_without_hashes(tmp_path: Path) -> None:
    requirements, lock = tmp_path / "requirements.txt", tmp_path / "requirements.lock"
    requirements.write_text("tzdata==2026.6\nwechatpy[cryptography]==1.8.18\n")
    lock.write_text(
        "tzdata==2025.1 \\\n    --hash=sha256:" + "a" * 64 + "\nwechatpy==1.8.18\n    # via -r requirements.txt\n"
    )
    problems = check_lock(str(requirements), str(lock))
    assert problems == [
        f"{lock} has tzdata==2025.1 but {requirements} pins 2026.6: run `make lock`",
        f"{lock}: wechatpy==1.8.18 has no --hash: run `make lock`",
    ]


def test_committed_lock_matches_requirements_and_the_runtime_is_the_pinned_python() -> None:
    assert check_lock(str(ROOT / "requirements.txt"), str(ROOT / "requirements.lock")) == []
    assert "tzdata==" in (ROOT / "requirements.lock").read_text()
    assert check_python("2.7") != [] and "rebuild it with python2.7" in check_python("2.7")[0]
