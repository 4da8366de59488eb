"""Domain errors. Each carries a stable `code`; the API maps codes to HTTP statuses and
member-facing texts (from configuration) in one place, `chalicelib/api/errors.py`."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, detail: str = "", *, field: str | None = None, code: str | None = None) -> None:
        """`code` names a finer cause than the class (e.g. which authentication check failed)."""
        super().__init__(detail or code or self.code)
        self.detail = detail
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(DomainError):
    code = "invalid_request"


class MemberNotFound(DomainError):
    code = "member_not_found"


class OrderNotFound(DomainError):
    code = "order_not_found"


class NotFound(DomainError):
    """404: no such record, or one that belongs to another member (never told apart)."""

    code = "not_found"


class ApprovalNotFound(NotFound):
    code = "not_found"


class InsufficientPoints(DomainError):
    """积分不足: a redemption or deduction larger than the spendable balance."""

    code = "insufficient_points"


class RefundExceedsOrder(DomainError):
    code = "refund_exceeds_order"


class IdempotencyConflict(DomainError):
    """The same idempotency key was used before with a different request."""

    code = "idempotency_key_reused"


class AlreadySet(DomainError):
    code = "already_set"


class PhoneBoundElsewhere(DomainError):
    code = "phone_bound_to_other_member"


class ApprovalRequired(DomainError):
    code = "approval_required"


class ApprovalNotAllowed(DomainError):
    code = "approval_not_allowed"


class Busy(DomainError):
    """Contention did not clear within the retry budget; the caller may retry with the same key."""

    code = "busy"


class InvalidWeChatCode(DomainError):
    """WeChat rejected a login or phone code (expired, used, or forged)."""

    code = "invalid_wechat_code"


class InvalidPhoneCode(InvalidWeChatCode):
    """WeChat rejected a `getPhoneNumber` code (手机号授权码): the member authorises again. A
    kind of InvalidWeChatCode, with its own code and text: the login is still valid."""

    code = "invalid_phone_code"


class WeChatUnavailable(DomainError):
    code = "wechat_unavailable"


class Unauthorized(DomainError):
    code = "unauthorized"


class Forbidden(DomainError):
    code = "forbidden"


class MergeConflict(DomainError):
    """会员合并冲突: the merged member already went into another member, or the survivor was
    itself merged away."""

    code = "merge_conflict"


class MergeNotAllowed(DomainError):
    """Two members with different unionids are different WeChat users: no automatic merge."""

    code = "merge_not_allowed"


class CampaignNotFound(DomainError):
    code = "campaign_not_found"


class OperatorNotFound(DomainError):
    code = "operator_not_found"
