"""Request and response models of the gifts routes (积分转赠)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from chalicelib.api.schemas import MAX_POINTS, Strict

# 9 of Crockford's base32 (services/member_codes.py); the API also reads lower case and the
# look-alikes O, I, L, and refuses a code whose check character does not match (400 to_code).
MEMBER_CODE_PATTERN = r"^[0-9A-Za-z]{9}$"
# Printable text: no control characters (a message is shown to the other member).
MESSAGE_PATTERN = r"^[^\x00-\x1f\x7f]+$"


class GiftIn(Strict):
    to_code: str = Field(pattern=MEMBER_CODE_PATTERN, description="the recipient's member code (会员码)")
    points: int = Field(gt=0, le=MAX_POINTS, description="from the balance (pending points are not giftable)")
    message: str | None = Field(default=None, min_length=1, max_length=40, pattern=MESSAGE_PATTERN)


class GiftPartyOut(Strict):
    code: str = Field(description="member code")
    nickname: str | None = Field(description="masked: 张**")


class GiftLotOut(Strict):
    expires_on: dt.date
    points: int


class GiftOut(Strict):
    gift_id: str
    points: int
    balance: int = Field(description="the giver's balance after the gift")
    to: GiftPartyOut
    lots: list[GiftLotOut] = Field(description="the giver's lots moved, earliest expiry first: their dates are kept")
