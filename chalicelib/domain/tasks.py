"""Outcomes of work the events worker runs (background tasks and notification deliveries).

Raised by the task or the sender, read by the SQS consumer (`notify/consumer.py`):

- `PermanentFailure`: retrying cannot help (WeChat refused the request for good, the
  request is invalid): the record is dead-lettered with this reason;
- `RetryLater`: a transient refusal (rate limit, WeChat busy, a delivery in progress
  elsewhere): SQS redelivers this record later.
"""

from __future__ import annotations


class PermanentFailure(Exception):
    """Retrying will not help: dead-letter the record with this reason."""


class RetryLater(Exception):
    """A transient refusal (rate limit, WeChat busy): redeliver this record later."""
