"""One access_token per WeChat app, shared by every Lambda through DynamoDB.

WeChat limits token fetches per day, and a plain `/cgi-bin/token` fetch invalidates the token
other containers hold. So: the token lives in one item with its expiry; a caller that finds it
missing, near expiry or rejected by WeChat takes a short conditional lease and fetches, while
the others poll the item briefly for the result. In front of DynamoDB each process keeps its
own copy for up to `local_seconds`: a warm call costs no DynamoDB read, and a copy made stale
by another container's forced refresh costs one rejected WeChat call, which `reject()` then
`refresh()` repair from the shared item without another fetch.

`SharedTokenStorage` is wechatpy's session storage (duck-typed get/set/delete), so wechatpy's
`access_token` property reads the shared token; the client's `fetch_access_token` is pointed at
`TokenCache.refresh`. No wechatpy import here: the storage needs none.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from chalicelib.clock import epoch_seconds
from chalicelib.observability import logger
from chalicelib.store import token_repo
from chalicelib.store.token_repo import TokenItem

# A token is used only while it has more than this left: WeChat's 7200 s minus a margin for
# clock skew and for the calls in flight when it runs out.
VALID_MARGIN_SECONDS = 300
LEASE_SECONDS = 10.0
WAIT_SECONDS = 3.0
POLL_SECONDS = 0.05  # first pause between reads while another caller fetches; grows to POLL_MAX_SECONDS
POLL_MAX_SECONDS = 0.4
LOCAL_SECONDS = 60.0

# (force_refresh) -> (access_token, expires_in seconds). Raises on WeChat errors.
Fetch = Callable[[bool], tuple[str, int]]


class TokenRefreshTimeout(Exception):
    """Another caller holds the refresh lease and no fresh token appeared in time."""


class TokenCache:
    def __init__(
        self,
        app_key: str,
        fetch: Fetch,
        *,
        can_force: bool,
        clock: Callable[[], float] = epoch_seconds,
        sleep: Callable[[float], None] = time.sleep,
        lease_seconds: float = LEASE_SECONDS,
        wait_seconds: float = WAIT_SECONDS,
        local_seconds: float = LOCAL_SECONDS,
    ) -> None:
        self.app_key = app_key
        self._fetch = fetch
        self._can_force = can_force
        self._clock, self._sleep = clock, sleep
        self.lease_seconds, self.wait_seconds, self.local_seconds = lease_seconds, wait_seconds, local_seconds
        self._lock = threading.Lock()
        self._local: tuple[str, float, float] | None = None  # token, expires_at, read_at
        self._rejected: deque[str] = deque(maxlen=4)

    def current(self) -> str | None:
        """The cached token while it is valid, without fetching: the local copy, else the item."""
        now = self._clock()
        with self._lock:
            if self._local is not None:
                token, expires_at, read_at = self._local
                if now - read_at < self.local_seconds and expires_at - now > VALID_MARGIN_SECONDS:
                    return token
                self._local = None
        item = token_repo.read(self.app_key)
        if item is None or item.token is None or not _fresh(item, now):
            return None
        return self._remember(item.token, item.expires_at or 0.0, now)

    def reject(self, token: str | None) -> None:
        """WeChat answered 40001/40014/42001 for `token`: the next refresh must replace it."""
        with self._lock:
            if token:
                self._rejected.append(token)
            if self._local is not None and (token is None or self._local[0] == token):
                self._local = None

    def refresh(self) -> str:
        """A usable token (fresh, not rejected), fetched under the lease only when the shared
        item has none. Raises TokenRefreshTimeout when another holder does not deliver in time."""
        owner = uuid.uuid4().hex
        deadline = self._clock() + self.wait_seconds
        pause = POLL_SECONDS
        while True:
            now = self._clock()
            item = token_repo.read(self.app_key)
            if item is not None and self._usable(item, now):
                return self._remember(item.token or "", item.expires_at or 0.0, now)
            if item is None or not item.leased(now):
                won = token_repo.try_lease(self.app_key, owner, now, self.lease_seconds)
                if won is not None:
                    return self._fetch_under_lease(won, owner)
            if now >= deadline:
                raise TokenRefreshTimeout(f"{self.app_key}: another caller holds the token refresh lease")
            self._sleep(pause)
            pause = min(pause * 1.5, POLL_MAX_SECONDS)

    def _fetch_under_lease(self, item: TokenItem, owner: str) -> str:
        now = self._clock()
        try:
            if self._usable(item, now):  # written between our read and our lease
                token_repo.release_lease(self.app_key, owner)
                return self._remember(item.token or "", item.expires_at or 0.0, now)
            token, expires_in = self._fetch(False)
            if self._can_force and self._is_rejected(token):
                # stable_token hands back the token WeChat just rejected: only now force a new one,
                # because a forced refresh invalidates the token for every other caller.
                logger.info("stable_token returned the rejected token; forcing a refresh", extra={"app": self.app_key})
                token, expires_in = self._fetch(True)
        except BaseException:
            _release_quietly(self.app_key, owner)
            raise
        expires_at = now + expires_in
        if not token_repo.store_token(self.app_key, owner, token, expires_at):
            logger.warning("token lease was taken over before the write", extra={"app": self.app_key})
        return self._remember(token, expires_at, now)

    def _usable(self, item: TokenItem, now: float) -> bool:
        return item.token is not None and not self._is_rejected(item.token) and _fresh(item, now)

    def _is_rejected(self, token: str) -> bool:
        with self._lock:  # threads of one container share the cache; a deque is not safe to scan while appended
            return token in self._rejected

    def _remember(self, token: str, expires_at: float, now: float) -> str:
        with self._lock:
            self._local = (token, expires_at, now)
        return token


class SharedTokenStorage:
    """wechatpy session storage whose access_token entry is the shared cache; other entries
    (e.g. jsapi tickets) stay in process memory."""

    def __init__(self, token_key: str, cache: TokenCache) -> None:
        self.token_key = token_key
        self.cache = cache
        self._other: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        if key == self.token_key:
            return self.cache.current() or default
        return self._other.get(key, default)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        if key != self.token_key and value is not None:
            self._other[key] = value
        # The token is written only by TokenCache under its lease; wechatpy's own fetch is never used.

    def delete(self, key: str) -> None:
        if key == self.token_key:
            self.cache.reject(None)
        else:
            self._other.pop(key, None)


def _fresh(item: TokenItem, now: float) -> bool:
    return item.expires_at is not None and item.expires_at - now > VALID_MARGIN_SECONDS


def _release_quietly(app_key: str, owner: str) -> None:
    try:
        token_repo.release_lease(app_key, owner)
    except Exception:  # the failed fetch is the error to report; the lease expires anyway
        logger.warning("could not release the token lease", extra={"app": app_key})
