"""Merge the committed infra templates into the one `chalice package --merge-template` reads.

Usage: python infra/merge_templates.py infra/tables.json infra/queues.json > build/merge.json
Each file is generated from code (`make infra`); a resource defined twice is an error.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def merge(paths: list[str]) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    for path in paths:
        with open(path, encoding="utf-8") as source:
            for logical_id, resource in json.load(source)["Resources"].items():
                if logical_id in resources:
                    raise SystemExit(f"{logical_id} is defined in more than one template ({path})")
                resources[logical_id] = resource
    return {"Resources": resources}


if __name__ == "__main__":
    print(json.dumps(merge(sys.argv[1:]), indent=2, sort_keys=True))
