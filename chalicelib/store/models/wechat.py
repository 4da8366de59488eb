"""WeChat: the shared access_token, handled callbacks."""

from __future__ import annotations

from pynamodb.attributes import (
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.models import Model

from chalicelib.store.models._base import _Meta, _settings


class WeChatTokenModel(Model):
    """One shared access_token per WeChat app (`mini:<appid>`, `mp:<appid>`, `work:<corpid>`),
    with a lease so only one caller at a time fetches a new one."""

    class Meta(_Meta):
        table_name = _settings.table_name("wechat-tokens")

    app_key = UnicodeAttribute(hash_key=True)
    token = UnicodeAttribute(null=True)
    expires_at = NumberAttribute(null=True)  # epoch seconds
    lease_owner = UnicodeAttribute(null=True)
    lease_until = NumberAttribute(null=True)  # epoch seconds


class CallbackModel(Model):
    """A WeChat callback already handled (by MsgId, or FromUserName+CreateTime+Event+EventKey),
    with the reply it got: a retry gets the same reply and no second effect."""

    class Meta(_Meta):
        table_name = _settings.table_name("callbacks")

    dedup_key = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute()  # pending | done
    claimed_at = NumberAttribute()
    reply = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
