"""The member card API behind one port (`CardApi`), so the card's provider can change.

BUILT: `OfficialAccountCardApi`, the official account's card API (公众号卡券 `card/membercard/*`,
through wechatpy's `client.card`): `updateuser`, `activate`, `activateuserform/set`,
`userinfo/get`. Units, as WeChat documents them (wechatpy's docstrings of `update_membercard`
and `activate_membercard`, after https://mp.weixin.qq.com/wiki?t=resource/res_main&id=mp1451025283
"7 更新会员信息"): `bonus` is the card's points total and `add_bonus` the change, "开发者可以同时
传入add_bonus和bonus解决由于同步失败带来的幂等性问题… bonus作为卡面上的总积分额度显示。余额变动同理";
`balance` is "需要设置的余额全量值，传入的数值会直接显示在卡面" (an int). We send stored value as
integer fen, the unit of every WeChat Pay amount and of the APIv3 member card's `balance`
("用户储值余额", int: pay.weixin.qq.com/docs/partner/apis/membership-card/member-card-base/
get-member-code-info.html); a card template that displays yuan must be set up for fen.

NOT BUILT: `WeChatPayCardApi`, the WeChat Pay APIv3 member card (`/v3/marketing/membercard-open/
cards/{card_id}/codes/{code}`: GET to read, PATCH to update level and balance, its other
endpoints for activation, and its notifications in the pay notification envelope,
api/pay_notify.py). The official account's
card API may be retired for some accounts; `MEMBER_CARD_API=wechatpay_v3` selects the seam,
which refuses every call with `CardApiNotBuilt` until it is written on chalicelib/wechat/pay.py's
signed client. Everything above the port (services/member_card.py) is provider-neutral.

Errors: `CardTransient` (WeChat busy, quota, unreachable: retry later) or `CardRejected`
(refused for good: invalid code 40056, a deleted or unknown card, bad parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from chalicelib.domain.member_card import CardUpdate, CardView


class CardTransient(Exception):
    """WeChat could not take the call now: the sync is retried later."""


class CardRejected(Exception):
    """WeChat refused the call for good: retrying the same call cannot help."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat errcode {errcode}: {errmsg}")
        self.errcode = errcode


class CardApiNotBuilt(CardRejected):
    """The configured provider's adapter is not written yet."""


class CardApi(Protocol):
    """What the member card needs from its provider."""

    def update_user(self, card_id: str, code: str, update: CardUpdate, records: dict[str, str]) -> None:
        """Absolute values + deltas; `records` are the change texts the member reads."""

    def activate(self, card_id: str, code: str, membership_number: str, view: CardView) -> None:
        """Our member number and the opening values."""

    def set_activate_form(self, card_id: str, form: dict[str, Any]) -> None: ...

    def get_user(self, card_id: str, code: str) -> CardView:
        """What the card shows now (the level: as far as the provider tells)."""


class OfficialAccountCardApi:
    """The official account's card API through wechatpy (clients.call: shared token, one retry)."""

    def update_user(self, card_id: str, code: str, update: CardUpdate, records: dict[str, str]) -> None:
        view = update.view
        fields: dict[str, Any] = {
            "bonus": view.bonus,
            "add_bonus": update.add_bonus,
            "balance": view.balance,
            "add_balance": update.add_balance,
            "custom_field_value1": view.level,
            # A change of zero (a level-only or forced push) sends no change message to the member.
            "notify_optional": {"is_notify_bonus": update.add_bonus != 0, "is_notify_balance": update.add_balance != 0},
        }
        fields |= {key: value for key, value in records.items() if value}
        _call(lambda client: client.card.update_membercard(code, card_id, **fields))

    def activate(self, card_id: str, code: str, membership_number: str, view: CardView) -> None:
        fields = {
            "card_id": card_id,
            "init_bonus": view.bonus,
            "init_balance": view.balance,
            "init_custom_field_value1": view.level,
        }
        _call(lambda client: client.card.activate_membercard(membership_number, code, **fields))

    def set_activate_form(self, card_id: str, form: dict[str, Any]) -> None:
        _call(lambda client: client.card.set_activate_user_form(card_id, **form))

    def get_user(self, card_id: str, code: str) -> CardView:
        reply = _call(lambda client: client.card.get_membercard_user_info(card_id, code))
        if not isinstance(reply, dict):
            raise CardTransient("userinfo/get answered without a JSON object")
        if reply.get("user_card_status") not in (None, "NORMAL"):
            raise CardRejected(40056, f"card status {reply.get('user_card_status')}")
        return CardView(_int(reply.get("bonus")), _int(reply.get("balance")), "")


class WeChatPayCardApi:
    """The APIv3 member card (`/v3/marketing/membercard-open/...`): the seam, NOT BUILT."""

    def _refuse(self) -> CardApiNotBuilt:
        return CardApiNotBuilt(0, "the WeChat Pay APIv3 member card adapter is not built (MEMBER_CARD_API)")

    def update_user(self, card_id: str, code: str, update: CardUpdate, records: dict[str, str]) -> None:
        raise self._refuse()

    def activate(self, card_id: str, code: str, membership_number: str, view: CardView) -> None:
        raise self._refuse()

    def set_activate_form(self, card_id: str, form: dict[str, Any]) -> None:
        raise self._refuse()

    def get_user(self, card_id: str, code: str) -> CardView:
        raise self._refuse()


PROVIDERS: dict[str, Callable[[], CardApi]] = {
    "official_account": OfficialAccountCardApi,
    "wechatpay_v3": WeChatPayCardApi,
}


def get_card_api() -> CardApi:
    """The provider MEMBER_CARD_API names (a typo is refused, not silently defaulted)."""
    from chalicelib.settings import get_settings

    name = get_settings().member_card_api
    provider = PROVIDERS.get(name)
    if provider is None:
        raise ValueError(f"MEMBER_CARD_API must be one of {sorted(PROVIDERS)}, not {name!r}")
    return provider()


def _call(action: Any) -> Any:
    from chalicelib.wechat.clients import TRANSIENT_ERRCODES, WeChatApiError, WeChatUnreachable, call

    try:
        return call("mp", action)
    except WeChatUnreachable as error:
        raise CardTransient(str(error)) from None
    except WeChatApiError as error:
        if error.errcode in TRANSIENT_ERRCODES:
            raise CardTransient(str(error)) from None
        raise CardRejected(error.errcode, error.errmsg) from None


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
