"""Merge the committed infra templates into the one `chalice package --merge-template` reads.

Usage: python infra/merge_templates.py infra/tables.json infra/queues.json infra/ops.json > build/merge.json
Each file is generated from code (`make infra`). Parameters, Conditions and Outputs are unions;
resources merge deeply, like Chalice's own merge, so one file may add properties to a resource
another file (or Chalice) declares: ops.json puts Tags on the tables of tables.json. It is an
error to declare a resource (its `Type`) twice, or to set one property to two different values.
"""

from __future__ import annotations

import json
import sys
from typing import Any

SECTIONS = ("Parameters", "Conditions", "Outputs")


def _deep_merge(into: dict[str, Any], new: dict[str, Any], where: str) -> None:
    for key, value in new.items():
        if key not in into:
            into[key] = value
        elif isinstance(into[key], dict) and isinstance(value, dict):
            _deep_merge(into[key], value, f"{where}.{key}")
        elif into[key] != value:
            raise SystemExit(f"{where}.{key} is set by more than one template")


def merge_templates(templates: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    merged: dict[str, Any] = {"Resources": {}}
    for name, template in templates:
        for section in SECTIONS:
            for key, value in template.get(section, {}).items():
                if key in merged.setdefault(section, {}):
                    raise SystemExit(f"{section}.{key} is defined in more than one template ({name})")
                merged[section][key] = value
        for logical_id, resource in template.get("Resources", {}).items():
            if "Type" in resource and "Type" in merged["Resources"].get(logical_id, {}):
                raise SystemExit(f"{logical_id} is defined in more than one template ({name})")
            _deep_merge(merged["Resources"], {logical_id: json.loads(json.dumps(resource))}, f"({name}) Resources")
    return merged


def merge(paths: list[str]) -> dict[str, Any]:
    loaded = []
    for path in paths:
        with open(path, encoding="utf-8") as source:
            loaded.append((path, json.load(source)))
    return merge_templates(loaded)


if __name__ == "__main__":
    print(json.dumps(merge(sys.argv[1:]), indent=2, sort_keys=True))
