"""DynamoDB faults at each step: the request either succeeds after retry or fails cleanly,
never leaving partial state."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from chalicelib.services.reconcile import reconcile
from tests.support.api import Api
from tests.support.faults import Injector, client_error, inject, transaction_conflict, unreachable


def _balance(api: Api, token: str) -> int:
    return int(api.me(token).json_body["points"]["balance"])


@pytest.mark.parametrize(
    "make",
    [
        lambda kw: transaction_conflict(len(kw["TransactItems"])),
        lambda kw: client_error("ProvisionedThroughputExceededException", "TransactWriteItems"),
        lambda kw: client_error("ThrottlingException", "TransactWriteItems"),
        lambda kw: client_error("TransactionInProgressException", "TransactWriteItems"),
    ],
    ids=["conflict", "throughput", "throttling", "in-progress"],
)
def test_transient_write_faults_are_retried_to_exactly_one_effect(
    api: Api, monkeypatch: pytest.MonkeyPatch, make: object
) -> None:
    token, member_id = api.login("fault")
    with inject(monkeypatch, Injector("TransactWriteItems", make, times=3)) as rule:  # type: ignore[arg-type]
        response = api.order("F-1", {"member_id": member_id}, 10_000)
    assert rule.injected == 3
    assert response.status_code == 200 and response.json_body["balance"] == 100
    assert _balance(api, token) == 100
    assert list(reconcile([member_id])) == []


def test_write_that_keeps_failing_answers_503_and_writes_nothing(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    token, member_id = api.login("stuck")
    api.order("S-0", {"member_id": member_id}, 10_000)
    conflict = Injector("TransactWriteItems", lambda kw: transaction_conflict(len(kw["TransactItems"])), times=None)
    with inject(monkeypatch, conflict):
        redeem = api.redeem(token, 30, "stuck-1")
        order = api.order("S-1", {"member_id": member_id}, 10_000)
    assert redeem.status_code == 503 and redeem.headers["Retry-After"] == "1"
    assert order.status_code == 503
    assert _balance(api, token) == 100
    # The client retries with the same key once DynamoDB recovers: exactly one effect.
    assert api.redeem(token, 30, "stuck-1").json_body["balance"] == 70
    assert api.order("S-1", {"member_id": member_id}, 10_000).json_body["balance"] == 170
    assert list(reconcile([member_id])) == []


@pytest.mark.parametrize(
    ("operation", "redeem_ok", "order_ok"),
    [("GetItem", False, False), ("Query", False, True), ("BatchGetItem", True, False)],
)
def test_failing_reads_fail_the_request_cleanly_with_503(
    api: Api, monkeypatch: pytest.MonkeyPatch, operation: str, redeem_ok: bool, order_ok: bool
) -> None:
    token, member_id = api.login("reader")
    api.order("R-0", {"member_id": member_id}, 10_000)
    broken = Injector(operation, lambda kw: client_error("InternalServerError", operation), times=None)
    with inject(monkeypatch, broken):
        redeem = api.redeem(token, 10, "r-1")
        order = api.order("R-1", {"openid": "o_reader"}, 5_000)
    assert redeem.status_code == (201 if redeem_ok else 503)
    assert order.status_code == (200 if order_ok else 503)
    for failed in [r for r in (redeem, order) if r.status_code == 503]:
        assert failed.json_body["error"]["code"] == "busy"
    assert _balance(api, token) == 100 - 10 * redeem_ok + 50 * order_ok
    assert list(reconcile([member_id])) == []


def test_failed_transaction_leaves_no_partial_state_in_the_embedded_server(api: Api) -> None:
    """A redemption replayed after the balance moved makes moto apply some items before the
    ledger put fails: the whole transaction must be rolled back."""
    token, member_id = api.login("rollback")
    api.order("RB-1", {"member_id": member_id}, 10_000)
    assert api.redeem(token, 40, "rb").status_code == 201
    api.order("RB-2", {"member_id": member_id}, 10_000)
    assert api.redeem(token, 40, "rb").json_body["balance"] == 60  # the original answer
    assert _balance(api, token) == 160
    assert list(reconcile([member_id])) == []


# --- 503 is for throttling and outages only; a request DynamoDB refuses as invalid is our bug ---------


@pytest.mark.parametrize(
    "make",
    [
        lambda kw: client_error("ProvisionedThroughputExceededException", "GetItem"),
        lambda kw: client_error("ThrottlingException", "GetItem"),
        lambda kw: client_error("RequestLimitExceeded", "GetItem"),
        lambda kw: client_error("InternalServerError", "GetItem"),
        lambda kw: client_error("ServiceUnavailable", "GetItem"),
        lambda kw: unreachable(EndpointConnectionError),
        lambda kw: unreachable(ConnectTimeoutError),
        lambda kw: unreachable(ReadTimeoutError),
    ],
    ids=["throughput", "throttling", "request-limit", "internal", "unavailable", "endpoint", "connect", "read"],
)
def test_throttled_or_unreachable_store_answers_503_busy_with_retry_after(
    api: Api, monkeypatch: pytest.MonkeyPatch, make: object
) -> None:
    token, _ = api.login("throttled")
    with inject(monkeypatch, Injector("GetItem", make, times=None)):  # type: ignore[arg-type]
        response = api.me(token)
    assert response.status_code == 503, response.body[:300]
    assert response.json_body["error"]["code"] == "busy" and response.headers["Retry-After"] == "1"


def _validation(operation: str) -> Injector:
    return Injector(operation, lambda kw: client_error("ValidationException", operation), times=None)


def test_validation_exception_on_a_read_is_500_internal_error_logged_with_its_stack_never_503(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    token, _ = api.login("invalid-read")
    caplog.clear()
    with inject(monkeypatch, _validation("GetItem")):
        response = api.me(token)
    assert response.status_code == 500, response.body[:300]
    assert response.json_body["error"]["code"] == "internal_error" and "Retry-After" not in response.headers
    [error] = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert error.exc_info is not None and "ValidationException" in str(error.exc_info[1])
    assert getattr(error, "request_id", None), "the log line names the request"


def test_validation_exception_on_a_transaction_is_500_tried_once_and_writes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, member_id = api.login("invalid-write")
    api.order("V-0", {"member_id": member_id}, 10_000)
    with inject(monkeypatch, _validation("TransactWriteItems")) as rule:
        order = api.order("V-1", {"member_id": member_id}, 10_000)
        redeem = api.redeem(token, 1, "v-1")
    assert (order.status_code, redeem.status_code) == (500, 500)
    assert order.json_body["error"]["code"] == redeem.json_body["error"]["code"] == "internal_error"
    assert rule.injected == 2, "a refused request is not re-planned as if it were contention"
    assert _balance(api, token) == 100
    assert list(reconcile([member_id])) == []


def test_cancelled_transaction_for_a_validation_error_is_500_not_503(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    token, member_id = api.login("invalid-item")
    reasons = lambda kw: client_error(  # noqa: E731
        "TransactionCanceledException",
        "TransactWriteItems",
        CancellationReasons=[{"Code": "ValidationError", "Message": "injected"}] * len(kw["TransactItems"]),
    )
    with inject(monkeypatch, Injector("TransactWriteItems", reasons, times=None)) as rule:
        order = api.order("V-2", {"member_id": member_id}, 10_000)
    assert order.status_code == 500 and rule.injected == 1
    assert _balance(api, token) == 0


def test_validation_exception_in_a_wechat_callback_is_500_and_a_throttle_is_503(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.wechat import XML_HEADERS, mp_event, mp_safe

    path, body = mp_safe(mp_event("mp_fault", "subscribe"))
    with inject(monkeypatch, _validation("PutItem")):
        invalid = api.http.post(path, body=body, headers=XML_HEADERS)
    throttle = Injector("PutItem", lambda kw: client_error("ThrottlingException", "PutItem"), times=None)
    with inject(monkeypatch, throttle):
        throttled = api.http.post(path, body=body, headers=XML_HEADERS)
    assert (invalid.status_code, throttled.status_code) == (500, 503)
    assert api.http.post(path, body=body, headers=XML_HEADERS).status_code == 200  # WeChat's retry lands
