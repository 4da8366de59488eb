"""Drop the API models of AWS services we never call from the Lambda zip.

botocore ships the JSON models of every AWS service (about 15 MB of the 26 MB zip). boto3
and botocore stay pinned together in the package, so the models of the services below are
all the runtime can need; a new AWS client in the code must add its service here.
Usage: python infra/slim_package.py build/package/deployment.zip
"""

from __future__ import annotations

import os
import sys
import zipfile

KEEP_SERVICES = {
    "dynamodb",
    "dynamodbstreams",
    "sqs",
    "ssm",
    "secretsmanager",
    "sts",
    "events",
    "scheduler",
    "lambda",
    "logs",
    "cloudwatch",
    "xray",
    "sso",
    "sso-oidc",
    "kms",
}
PREFIX = "botocore/data/"


def keep(name: str) -> bool:
    if not name.startswith(PREFIX):
        return True
    rest = name[len(PREFIX) :]
    return "/" not in rest or rest.split("/", 1)[0] in KEEP_SERVICES


def slim(path: str) -> tuple[int, int]:
    before = os.path.getsize(path)
    tmp = path + ".slim"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as target:
        kept = {
            info.filename.split("/")[2]
            for info in source.infolist()
            if info.filename.startswith(PREFIX) and info.filename.count("/") > 2 and keep(info.filename)
        }
        missing = {"dynamodb", "ssm", "sqs"} - kept
        if missing:
            raise SystemExit(f"botocore models missing from the package: {sorted(missing)}")
        for info in source.infolist():
            if keep(info.filename):
                target.writestr(info, source.read(info.filename))
    os.replace(tmp, path)
    return before, os.path.getsize(path)


if __name__ == "__main__":
    before, after = slim(sys.argv[1])
    print(f"slimmed {sys.argv[1]}: {before // 1024} KiB -> {after // 1024} KiB")
