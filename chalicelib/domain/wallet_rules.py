"""Stored-value rules as programme data (储值规则): top-up bonuses (充值赠送, e.g. 充500送50) as
time-boxed rules of tiers, the spending order of principal (本金) and bonus (赠送金), and the
prepaid limits. `Programme.wallet` holds them; the defaults (disabled, no bonus rules) keep
every programme document written before stored value existed valid.

Amounts are integer fen. Dates are the brand's calendar days (Asia/Shanghai), inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CODE = r"^[a-z][a-z0-9_]{0,31}$"
# 单用途商业预付卡管理办法: a named (记名) card holds at most ¥5,000. A brand may set less, never more.
NAMED_CARD_LIMIT_FEN = 500_000
SpendOrder = Literal["principal_first", "bonus_first", "proportional"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class TopupTier(_Data):
    """Top up at least `min_fen`, get `bonus_fen` (once per top-up, not per multiple)."""

    min_fen: int = Field(ge=1, le=NAMED_CARD_LIMIT_FEN)
    bonus_fen: int = Field(ge=0, le=NAMED_CARD_LIMIT_FEN)

    @model_validator(mode="after")
    def _at_most_the_amount(self) -> TopupTier:
        if self.bonus_fen > self.min_fen:
            raise ValueError("a bonus is at most the amount that earns it")
        return self


class TopupRule(_Data):
    """A bonus offer, e.g. 充500送50 · 充1000送150, in force from `starts_on` to `ends_on`."""

    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1, max_length=32)
    starts_on: date | None = None
    ends_on: date | None = None
    tiers: tuple[TopupTier, ...] = Field(min_length=1, max_length=10)

    @field_validator("tiers")
    @classmethod
    def _ladder(cls, tiers: tuple[TopupTier, ...]) -> tuple[TopupTier, ...]:
        thresholds = [tier.min_fen for tier in tiers]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("min_fen must rise strictly from the first tier to the last")
        return tiers

    @model_validator(mode="after")
    def _window(self) -> TopupRule:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self

    def in_force(self, today: date) -> bool:
        return (self.starts_on is None or self.starts_on <= today) and (self.ends_on is None or today <= self.ends_on)

    def bonus(self, amount_fen: int) -> int | None:
        """The bonus of the highest tier the amount reaches, None below the first."""
        reached = [tier.bonus_fen for tier in self.tiers if tier.min_fen <= amount_fen]
        return reached[-1] if reached else None


class WalletRules(_Data):
    enabled: bool = False
    min_topup_fen: int = Field(default=100, ge=1, le=NAMED_CARD_LIMIT_FEN)
    max_topup_fen: int = Field(default=NAMED_CARD_LIMIT_FEN, ge=1, le=NAMED_CARD_LIMIT_FEN)
    max_balance_fen: int = Field(
        default=NAMED_CARD_LIMIT_FEN,
        ge=1,
        le=NAMED_CARD_LIMIT_FEN,
        description="principal + bonus + pending top-ups a member's card may hold (记名卡 ≤ ¥5,000)",
    )
    spend_order: SpendOrder = Field(default="principal_first", description="which part a payment spends first")
    topup_rules: tuple[TopupRule, ...] = Field(default=(), max_length=20)

    @field_validator("topup_rules")
    @classmethod
    def _unique_rules(cls, rules: tuple[TopupRule, ...]) -> tuple[TopupRule, ...]:
        if len({rule.code for rule in rules}) != len(rules):
            raise ValueError("top-up rule codes must be unique")
        return rules

    @model_validator(mode="after")
    def _reachable(self) -> WalletRules:
        if not self.min_topup_fen <= self.max_topup_fen <= self.max_balance_fen:
            raise ValueError("min_topup_fen ≤ max_topup_fen ≤ max_balance_fen")
        return self


@dataclass(frozen=True)
class TopupOffer:
    """What a top-up of `amount_fen` earns today: recorded on the top-up when it is created, so
    the credit follows the rule in force then, whatever the programme says when it is paid."""

    amount_fen: int
    bonus_fen: int
    rule_code: str | None


def offer_for(rules: WalletRules, amount_fen: int, today: date) -> TopupOffer:
    """The best bonus among the rules in force (overlapping offers do not add up); on a tie,
    the rule listed first."""
    best: TopupOffer = TopupOffer(amount_fen, 0, None)
    for rule in rules.topup_rules:
        bonus = rule.bonus(amount_fen) if rule.in_force(today) else None
        if bonus is not None and bonus > best.bonus_fen:
            best = TopupOffer(amount_fen, bonus, rule.code)
    return best


def rules_in_force(rules: WalletRules, today: date) -> list[TopupRule]:
    return [rule for rule in rules.topup_rules if rule.in_force(today)]
