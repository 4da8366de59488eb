"""What a new user meets first: the operator CLI's errors, the `make run` banner's lines on
other ports, and a phone binding with a bad code."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest

from chalicelib.jobs.runner import JOBS
from tests.support.api import Api, dumps, member_headers

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "http://127.0.0.1:9"  # loopback, nothing listens: the local stack is down


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": UNREACHABLE}
    command = [sys.executable, "-m", "chalicelib.cli", *args]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


# The operator CLI -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["reconcile"], ["job", "expire-points"], ["dlq", "list"]])
def test_cli_with_the_local_stack_down_says_so_in_one_line_and_exits_1(command: list[str]) -> None:
    ran = _cli(*command)

    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr
    [line] = ran.stderr.strip().splitlines()
    assert f"cannot reach DynamoDB/SQS at {UNREACHABLE}" in line
    assert "`make run`" in line and "LOCAL_AWS_PORT" in line


def test_cli_unknown_job_is_a_one_line_usage_error_naming_the_jobs() -> None:
    ran = _cli("job", "no-such-job")

    assert ran.returncode == 2
    [line] = ran.stderr.strip().splitlines()
    assert "no-such-job" in line and all(name in line for name in JOBS)


def test_cli_job_help_lists_every_job(capsys: pytest.CaptureFixture[str]) -> None:
    from chalicelib.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["job", "--help"])

    shown = capsys.readouterr().out
    assert exited.value.code == 0
    assert all(name in shown for name in JOBS)


def test_cli_now_that_is_not_an_iso_time_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from chalicelib.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["job", "expire-points", "--now", "tomorrow"])

    assert exited.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "'tomorrow' is not an ISO time" in line


def _run_job_at(now: datetime, capsys: pytest.CaptureFixture[str]) -> tuple[str, dict[str, Any]]:
    from chalicelib.cli import main

    assert main(["job", "expire-points", "--now", now.isoformat()]) == 0
    printed = capsys.readouterr()
    return printed.err, json.loads(printed.out.strip().splitlines()[-1])


def test_cli_warns_when_now_is_more_than_a_day_ahead_of_the_clock(
    tables: None, pinned_clock: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    err, result = _run_job_at(pinned_clock + timedelta(days=3), capsys)

    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "3 day(s) after the clock" in warnings[0] and "watermark" in warnings[0]
    assert result["job"] == "expire-points"


def test_cli_does_not_warn_for_a_now_within_a_day(
    tables: None, pinned_clock: datetime, capsys: pytest.CaptureFixture[str]
) -> None:
    err, _result = _run_job_at(pinned_clock + timedelta(hours=20), capsys)

    assert "warning:" not in err


# The `make run` banner ------------------------------------------------------------------------


def _fake_stack(local_dir: Path, ports: dict[str, int]) -> Any:
    local_dir.mkdir(parents=True, exist_ok=True)
    secrets_file = local_dir / "secrets.env"
    secrets_file.write_text("POS_CLIENTS={}\n", encoding="utf-8")
    operators_file = local_dir / "operators.json"
    accounts = {"admin": {"password": "admin-pass-1"}, "alice": {"key_id": "k1", "key": "op-key-alice"}}
    operators_file.write_text(json.dumps(accounts), encoding="utf-8")
    return SimpleNamespace(
        ports=ports,
        secrets_file=secrets_file,
        operators_file=operators_file,
        logs=local_dir / "logs",
        url=lambda name: f"http://127.0.0.1:{ports[name]}",
    )


def _banner(stack: Any, capsys: pytest.CaptureFixture[str]) -> list[str]:
    from local.run import _print_try

    _print_try(stack, jwt.encode({"sub": "m_alice1"}, "k" * 32, algorithm="HS256"))
    # Continuation lines joined, as a shell reads them.
    return [line.strip() for line in capsys.readouterr().out.replace("\\\n", " ").splitlines()]


def _line(lines: list[str], needle: str) -> str:
    [found] = [line for line in lines if needle in line and not line.startswith("#")]
    return found


def test_banner_lines_carry_the_stacks_ports_and_local_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ports = {"aws": 5211, "wechat": 8211, "api": 8311, "worker": 8411, "wechatpay": 8511}
    stack = _fake_stack(tmp_path / "stack", ports)
    lines = _banner(stack, capsys)
    local_dir = f"LOCAL_DIR={shlex.quote(str(stack.secrets_file.parent))}"

    for target in ("make job NAME=", "make reconcile", "make dlq"):
        assert _line(lines, target).startswith(f"LOCAL_AWS_PORT=5211 {local_dir} make "), target
    pos = shlex.split(_line(lines, "local.pos_call"))
    assert pos[:2] == ["LOCAL_API_PORT=8311", local_dir.replace("'", "")]
    assert pos[2:7] == [".venv/bin/python", "-m", "local.pos_call", "POST", "/v1/orders"] and len(pos) == 8
    assert json.loads(pos[7])["member"] == {"openid": "o_alice"}
    assert all("127.0.0.1:8311" in line for line in lines if line.startswith("curl") and "/v1/" in line)


def test_banner_shows_a_working_operator_adjustment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ports = {"aws": 5211, "wechat": 8211, "api": 8311, "worker": 8411, "wechatpay": 8511}
    lines = _banner(_fake_stack(tmp_path / "stack", ports), capsys)

    assert "OPERATOR_KEY=op-key-alice" in _line(lines, "OPERATOR_KEY=")
    curl = shlex.split(_line(lines, "/points/adjustments"))
    assert "http://127.0.0.1:8311/admin/members/m_alice1/points/adjustments" in curl
    headers = [curl[i + 1] for i, word in enumerate(curl) if word == "-H"]
    assert "X-Operator-Id: alice" in headers and "X-Operator-Key: $OPERATOR_KEY" in headers
    assert any(h.startswith("Idempotency-Key: ") for h in headers)
    assert json.loads(curl[curl.index("-d") + 1])["points"] == 20


def test_banner_on_default_ports_prints_plain_make_lines_and_logs_alice_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from local import run

    monkeypatch.setattr(run, "ROOT", tmp_path)
    lines = _banner(
        _fake_stack(tmp_path / ".local", {"aws": 5100, "wechat": 8090, "api": 8000, "worker": 8091, "wechatpay": 8092}),
        capsys,
    )

    assert _line(lines, "make job NAME=") == "make job NAME=expire-points"
    assert _line(lines, "local.pos_call").startswith(".venv/bin/python -m local.pos_call POST")
    assert '"demo:alice"' in _line(lines, "/v1/auth/login")


# Phone binding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["phone:not-digits", "expired-or-forged"])
def test_bad_phone_code_asks_to_authorise_the_phone_again(api: Api, code: str) -> None:
    token, _ = api.login("nora")

    response = api.http.post("/v1/me/phone", body=dumps({"code": code}), headers=member_headers(token))

    assert response.status_code == 400
    error = response.json_body["error"]
    assert error["code"] == "invalid_phone_code"
    assert error["message"] == "手机号授权码无效或已过期，请重新授权"
    assert [f["field"] for f in error["fields"]] == ["code"]
    me = api.me(token)  # the login itself is still good
    assert me.status_code == 200 and me.json_body["phone"] is None
