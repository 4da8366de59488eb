"""Checks `make package` runs before and after `chalice package`; each failure is one line.

    python infra/check_package.py python 3.11                          the building interpreter is the runtime's
    python infra/check_package.py lock requirements.txt requirements.lock   the lock pins what requirements.txt pins, with hashes
    python infra/check_package.py template build/package/sam.json python3.11

`chalice package` takes the Lambda runtime from the interpreter that runs it, and builds the
wheels for it: the two must be the pinned one. The template check catches what cfn-lint does
not: a name or partition left hard-coded, a function without its log group or alarms (infra/ops.json
stale), a policy whose `${...}` was never substituted, a worker capped by reserved concurrency.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

FORBIDDEN = ("arn:aws:", "wxmember-prod", "wxmember-dev")
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^\s;\\]+)")


def check_python(expected: str) -> list[str]:
    found = f"{sys.version_info.major}.{sys.version_info.minor}"
    if found == expected:
        return []
    return [
        f"the Lambda runtime is python{expected} but this venv runs Python {found}: "
        f"rebuild it with python{expected} (rm -rf .venv && make venv PY_BOOT=python{expected})"
    ]


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return pins


def check_lock(requirements: str, lock: str) -> list[str]:
    wanted, locked = _pins(Path(requirements).read_text()), Path(lock).read_text()
    pins = _pins(locked)
    problems = [
        f"{lock} has {name}=={pins.get(name)} but {requirements} pins {version}: run `make lock`"
        for name, version in wanted.items()
        if pins.get(name) != version
    ]
    entries = [e for e in re.split(r"\n(?=[A-Za-z0-9])", locked) if _PIN.match(e.strip())]
    problems += [f"{lock}: {e.split()[0]} has no --hash: run `make lock`" for e in entries if "--hash=sha256:" not in e]
    return problems


def _strings(node: Any, path: str = "") -> list[tuple[str, str]]:
    """Every plain string in the template, with where it is; `Fn::Sub` bodies left out."""
    if isinstance(node, dict):
        return [s for key, value in node.items() if key != "Fn::Sub" for s in _strings(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [s for index, value in enumerate(node) for s in _strings(value, f"{path}[{index}]")]
    return [(path, node)] if isinstance(node, str) else []


def _sub_bodies(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0]] if "Fn::Sub" in node else []
        return own + [s for value in node.values() for s in _sub_bodies(value)]
    if isinstance(node, list):
        return [s for value in node for s in _sub_bodies(value)]
    return []


def check_template(template: dict[str, Any], runtime: str) -> list[str]:
    resources: dict[str, Any] = template["Resources"]
    problems = [
        f"{rid} has no Type: infra/ops.json is stale (run `make infra`)"
        for rid, r in resources.items()
        if "Type" not in r
    ]
    for where, text in _strings(template) + [("Fn::Sub", s) for s in _sub_bodies(template)]:
        problems += [f"{where}: hard-coded {bad!r} in {text!r}" for bad in FORBIDDEN if bad in text]
        if "${" in text and where != "Fn::Sub":
            problems.append(f"{where}: {text!r} is not inside Fn::Sub")
    functions = {rid: r for rid, r in resources.items() if r.get("Type") == "AWS::Serverless::Function"}
    for rid, function in functions.items():
        properties = function["Properties"]
        if properties.get("Runtime") != runtime:
            problems.append(f"{rid}: Runtime {properties.get('Runtime')} is not the pinned {runtime}")
        log_group = resources.get(f"{rid}LogGroup", {}).get("Properties", {})
        if log_group.get("LogGroupName") != {"Fn::Sub": f"/aws/lambda/${{{rid}}}"}:
            problems.append(f"{rid}: no log group {rid}LogGroup (run `make infra`)")
        problems += [
            f"{rid}: no {rid}{k}Alarm (run `make infra`)"
            for k in ("Errors", "Throttles")
            if f"{rid}{k}Alarm" not in resources
        ]
        for name, source in properties.get("Events", {}).items():
            if source.get("Type") == "SQS":
                if "ScalingConfig" not in source["Properties"]:
                    problems.append(f"{rid}.{name}: an SQS event source without ScalingConfig")
                if "ReservedConcurrentExecutions" in properties:
                    problems.append(f"{rid}: reserved concurrency on an SQS consumer dead-letters good messages")
    return problems


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "python":
        problems = check_python(args[0])
    elif command == "lock":
        problems = check_lock(args[0], args[1])
    else:
        problems = check_template(json.loads(Path(args[0]).read_text()), args[1])
    for problem in problems:
        print(f"check_package: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
