"""Test environment: fixed secrets and an isolated table prefix, set before chalicelib loads."""

from __future__ import annotations

import base64
import json
import os

TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "STAGE": "test",
    "TABLE_PREFIX": "test-",
    "JWT_SECRET": "test-jwt-secret-0123456789abcdef0123456789",
    "PHONE_ENC_KEY": base64.b64encode(b"k" * 32).decode(),
    "PHONE_HASH_KEY": "test-phone-hash-key",
    "WECHAT_MINI_APPID": "wx_test_mini",
    "WECHAT_MINI_SECRET": "test-mini-secret",
    "WECHAT_MP_APPID": "wx_test_mp",
    "WECHAT_MP_SECRET": "test-mp-secret",
    "WECHAT_MP_TOKEN": "test-mp-token",
    "WECHAT_MP_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "WECHAT_WORK_CORPID": "ww_test_corp",
    "WECHAT_WORK_SECRET": "test-work-secret",
    "WECHAT_WORK_TOKEN": "test-work-token",
    "WECHAT_WORK_AES_KEY": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefg",
    "EVENTS_QUEUE_NAME": "test-events",
    "EVENTS_DLQ_NAME": "test-events-dlq",
    "POS_CLIENTS": json.dumps({"pos-1": "pos-secret-1", "pos-2": "pos-secret-2"}),
    "POINTS_EXPIRY_POLICY": "rolling:12",
    "ADJUST_APPROVAL_THRESHOLD": "1000",
    "POWERTOOLS_METRICS_NAMESPACE": "wxmember",
    "POWERTOOLS_SERVICE_NAME": "wxmember",
}


def apply_test_env() -> None:
    os.environ.update(TEST_ENV)
    os.environ.pop("SECRETS_FILE", None)
    os.environ.pop("SECRETS_SSM_PATH", None)
