"""How the fake WeChat Pay sends its notifications: signed afresh on each attempt, to the
callback URL, and sent again while the answer is not 2xx, on WeChat Pay's schedule (15 s, 15 s,
30 s, 3 min, 10 min, 20 min, 30 min ×3, 1 h, 3 h ×3, 6 h ×2: 24 h 4 min in all) compressed by
`scale` (1/1000 turns a day into 86 s). Every attempt is recorded."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

RESEND_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)

# url, body, headers → the HTTP status the callback answered (0: no answer).
Deliver = Callable[[str, bytes, dict[str, str]], int]
Sign = Callable[[bytes], dict[str, str]]


def http_deliver(url: str, body: bytes, headers: dict[str, str], timeout: float = 5.0) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={**headers, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


class Deliveries:
    """Notification senders, one thread each; `wait()` until all have stopped (tests)."""

    def __init__(self, deliver: Deliver, scale: float) -> None:
        self.deliver, self.scale = deliver, scale
        self.log: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def send(
        self, url: str, envelope: dict[str, Any], sign: Sign, *, tamper: Callable[[bytes], bytes] | None = None
    ) -> None:
        body = json.dumps(envelope, ensure_ascii=False).encode()
        thread = threading.Thread(
            target=self._run, args=(url, envelope, body, sign, tamper, self._stop), name="fake-pay-notify", daemon=True
        )
        with self._lock:  # started inside the lock: `wait` never sees a thread not yet started
            thread.start()
            self._threads.append(thread)

    def _run(
        self,
        url: str,
        envelope: dict[str, Any],
        body: bytes,
        sign: Sign,
        tamper: Callable[[bytes], bytes] | None,
        stop: threading.Event,
    ) -> None:
        for attempt in range(len(RESEND_SCHEDULE) + 1):
            if attempt and stop.wait(RESEND_SCHEDULE[attempt - 1] * self.scale):
                return
            headers = sign(body)
            sent = tamper(body) if tamper else body
            status = self.deliver(url, sent, headers)
            with self._lock:
                self.log.append(
                    {
                        "id": envelope["id"],
                        "event_type": envelope["event_type"],
                        "attempt": attempt + 1,
                        "status": status,
                    }
                )
            if 200 <= status < 300:
                return

    def track(self, thread: threading.Thread) -> None:
        """A thread that will send (a refund finishing a moment later): `wait` waits for it too."""
        with self._lock:
            thread.start()
            self._threads.append(thread)

    def wait(self, timeout: float = 10.0) -> bool:
        """Until every sender is done, those a finishing sender started included."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [thread for thread in self._threads if thread.is_alive()]
            if not alive:
                return True
            for thread in alive:
                thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                return not any(thread.is_alive() for thread in alive)

    def reset(self) -> None:
        """Stop every sender (a test's leftovers never reach the next test)."""
        self._stop.set()
        self.wait(2.0)
        with self._lock:
            self._threads.clear()
            self.log.clear()
        self._stop = threading.Event()
