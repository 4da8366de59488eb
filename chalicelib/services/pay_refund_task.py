"""The WeChat Pay refund a money-returning transaction owes (a checked-out order's WeChat-paid
cash part, a cancelled points + cash gift's cash): staged as a task in that very transaction,
so it is owed exactly when the points and the wallet came back, and run by the events worker
until WeChat Pay takes it. The out_refund_no is the refund's own: WeChat Pay answers a repeated
one with the same refund, so the first try on the request path and every redelivery of the task
refund once."""

from __future__ import annotations

from chalicelib.domain.events import DomainEvent

KIND = "task.pay_refund"


def event(event_id: str, member_id: str, at: str, refund_no: str, trade_no: str, cash_fen: int, total_fen: int,
          reason: str) -> DomainEvent:  # fmt: skip
    data = {
        "refund_no": refund_no,
        "trade_no": trade_no,
        "cash_fen": cash_fen,
        "total_fen": total_fen,
        "reason": reason,
    }
    return DomainEvent(event_id, KIND, member_id, at, data)


def run(task: DomainEvent) -> None:
    """Unreachable or busy: redelivered; refused for good: the DLQ, with WeChat Pay's reason."""
    from chalicelib.domain.tasks import PermanentFailure, RetryLater
    from chalicelib.services.topups import pay_client
    from chalicelib.wechat.pay import PayRejected, PayUnavailable

    data = task.data
    try:
        pay_client().refund(str(data["refund_no"]), str(data["trade_no"]), int(data["cash_fen"]),
                            int(data["total_fen"]), reason=str(data["reason"]))  # fmt: skip
    except PayUnavailable as error:
        raise RetryLater(str(error)) from error
    except PayRejected as error:
        if error.status >= 500 or error.code in ("SYSTEM_ERROR", "FREQUENCY_LIMITED"):
            raise RetryLater(str(error)) from error
        raise PermanentFailure(f"WeChat Pay refused the refund: {error.code} {error.message}") from error
