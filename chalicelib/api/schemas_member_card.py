"""Request and response models of the member card's admin routes (会员卡): points are integers,
stored value is integer fen."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.schemas import Strict

FormFlag = Literal[
    "USER_FORM_INFO_FLAG_MOBILE",
    "USER_FORM_INFO_FLAG_SEX",
    "USER_FORM_INFO_FLAG_NAME",
    "USER_FORM_INFO_FLAG_BIRTHDAY",
    "USER_FORM_INFO_FLAG_IDCARD",
    "USER_FORM_INFO_FLAG_EMAIL",
    "USER_FORM_INFO_FLAG_LOCATION",
    "USER_FORM_INFO_FLAG_EDUCATION_BACKGRO",
    "USER_FORM_INFO_FLAG_INDUSTRY",
    "USER_FORM_INFO_FLAG_INCOME",
    "USER_FORM_INFO_FLAG_HABIT",
]
CardStatusOut = Literal["linked", "active", "unlinked", "superseded"]
OutcomeOut = Literal["activated", "pushed", "unchanged", "retrying", "rejected"]


class FormLink(Strict):
    name: str = Field(min_length=1, max_length=32)
    url: str = Field(min_length=8, max_length=512, pattern=r"^https://")


class RichField(Strict):
    type: Literal["FORM_FIELD_RADIO", "FORM_FIELD_SELECT", "FORM_FIELD_CHECK_BOX"]
    name: str = Field(min_length=1, max_length=32)
    values: list[str] = Field(min_length=1, max_length=20)


class FormPart(Strict):
    can_modify: bool = False
    common_field_id_list: list[FormFlag] = Field(default_factory=list, max_length=11)
    custom_field_list: list[str] = Field(default_factory=list, max_length=10)
    rich_field_list: list[RichField] = Field(default_factory=list, max_length=10)


class ActivateFormIn(Strict):
    """开卡字段 (WeChat's `activateuserform/set`): what a member fills in to activate the card."""

    card_id: str | None = Field(default=None, min_length=1, max_length=64, description="default: MEMBER_CARD_ID")
    required_form: FormPart | None = None
    optional_form: FormPart | None = None
    service_statement: FormLink | None = Field(default=None, description="会员守则")
    bind_old_card: FormLink | None = Field(default=None, description="老会员绑定")


class ActivateFormOut(Strict):
    card_id: str
    fields: list[str] = Field(description="the parts of the form that were set")


class CardValuesOut(Strict):
    bonus: int = Field(description="points (积分) on the card")
    balance_fen: int = Field(description="stored value (储值) on the card, fen")
    level: str = Field(description="the tier's name, a custom field of the card")


class MemberCardOut(Strict):
    member_id: str
    code: str
    card_id: str
    status: CardStatusOut
    version: int
    pushed: CardValuesOut | None = Field(description="what we pushed last (null before the activation)")
    pushed_at: str | None
    outcome: OutcomeOut | None = Field(description="how the last sync ended")
    outcome_at: str | None
    error: str | None = Field(description="WeChat's refusal or the transient failure, when the last sync failed")
    linked_at: str | None
