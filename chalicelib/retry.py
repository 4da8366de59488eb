"""The one retry policy for a plan that lost a race (a version moved, a transaction conflicted):
sleep a random time up to an exponentially growing cap ("full jitter"), so writers that
collided do not collide again in step."""

from __future__ import annotations

import random
import time

BASE_SECONDS = 0.004
CAP_SECONDS = 0.25


def backoff(attempt: int, *, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> None:
    time.sleep(random.uniform(0, min(cap, base * 2**attempt)))
