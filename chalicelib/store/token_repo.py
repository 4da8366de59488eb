"""The shared WeChat access_token items (one per app: `mini:<appid>`, `mp:<appid>`, `work:<corpid>`).

A lease is a conditional update: only a caller that finds no lease, or an expired one, gets it.
Writing the token clears the lease in the same update, guarded by `lease_owner = <me>`, so a
caller whose lease was taken over does not clobber the new holder's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pynamodb.exceptions import UpdateError

from chalicelib.observability import logger
from chalicelib.store.errors import condition_failed
from chalicelib.store.models import WeChatTokenModel


@dataclass(frozen=True)
class TokenItem:
    app_key: str
    # The token is a bearer credential: keep it out of reprs, logs and tracebacks.
    token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    lease_owner: str | None = None
    lease_until: float | None = None

    def leased(self, now: float) -> bool:
        return self.lease_until is not None and self.lease_until >= now


def read(app_key: str) -> TokenItem | None:
    try:
        return _from_model(WeChatTokenModel.get(app_key, consistent_read=True))
    except WeChatTokenModel.DoesNotExist:
        return None


def try_lease(app_key: str, owner: str, now: float, lease_seconds: float) -> TokenItem | None:
    """Take the refresh lease when it is free (absent or expired): the item as it is now
    (so the winner sees a token written since its last read), or None when another holds it."""
    item = WeChatTokenModel(app_key)
    free = WeChatTokenModel.lease_until.does_not_exist() | (WeChatTokenModel.lease_until < now)
    try:
        item.update(
            actions=[
                WeChatTokenModel.lease_owner.set(owner),
                WeChatTokenModel.lease_until.set(now + lease_seconds),
            ],
            condition=free,
        )
    except UpdateError as error:
        if condition_failed(error):
            return None
        raise
    return _from_model(item)


def store_token(app_key: str, owner: str, token: str, expires_at: float) -> bool:
    """Write the fetched token and release the lease; False when the lease was taken over."""
    try:
        WeChatTokenModel(app_key).update(
            actions=[
                WeChatTokenModel.token.set(token),
                WeChatTokenModel.expires_at.set(expires_at),
                WeChatTokenModel.lease_owner.remove(),
                WeChatTokenModel.lease_until.remove(),
            ],
            condition=WeChatTokenModel.lease_owner == owner,
        )
    except UpdateError as error:
        if condition_failed(error):
            return False
        raise
    return True


def release_lease(app_key: str, owner: str) -> None:
    """Best effort, after a failed fetch: the lease would expire on its own anyway."""
    try:
        WeChatTokenModel(app_key).update(
            actions=[WeChatTokenModel.lease_owner.remove(), WeChatTokenModel.lease_until.remove()],
            condition=WeChatTokenModel.lease_owner == owner,
        )
    except UpdateError as error:
        if not condition_failed(error):
            logger.warning("could not release the token lease", extra={"app_key": app_key})


def _from_model(item: WeChatTokenModel) -> TokenItem:
    return TokenItem(
        app_key=item.app_key,
        token=item.token,
        expires_at=float(item.expires_at) if item.expires_at is not None else None,
        lease_owner=item.lease_owner,
        lease_until=float(item.lease_until) if item.lease_until is not None else None,
    )
