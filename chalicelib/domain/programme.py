"""The loyalty programme as data (会员方案): tiers and their benefits, earning rules, points
policy, check-in, referrals and gifts. A brand's marketing team edits it through
`/admin/programme`; every change is a new version. Validation names the field at fault.

Services receive a `Programme` as a value (`services/programme.current()`); nothing deep
inside reads settings for a rule. Amounts are integers: fen, points, and rates in basis
points of 1/100 (a multiplier of 200 is ×2, a discount of 95 is 95折, i.e. pay 95 %).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from chalicelib.domain.wallet_rules import WalletRules

CODE = r"^[a-z][a-z0-9_]{0,31}$"
MAX_POINTS = 1_000_000
MAX_FEN = 100_000_000_00


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


class MonthlyCoupons(_Data):
    """等级权益券包: `count` coupons of a template for every member of the tier, each month."""

    template_id: str = Field(min_length=1, max_length=64)
    count: int = Field(default=1, ge=1, le=10)


class TierBenefits(_Data):
    points_multiplier: int = Field(default=100, ge=100, le=1000, description="in %: 200 is ×2")
    discount_rate: int = Field(default=100, ge=50, le=100, description="in %: 95 is 95折 (checkout)")
    birthday_points: int = Field(default=0, ge=0, le=MAX_POINTS)
    birthday_coupon_template: str | None = Field(default=None, max_length=64)
    perks: tuple[str, ...] = Field(default=(), max_length=20, description="named perks shown to members and staff")
    monthly_coupons: tuple[MonthlyCoupons, ...] = Field(
        default=(), max_length=5, description="granted on the 1st of each month (jobs/tier_packs.py)"
    )

    @field_validator("monthly_coupons")
    @classmethod
    def _one_entry_per_template(cls, packs: tuple[MonthlyCoupons, ...]) -> tuple[MonthlyCoupons, ...]:
        templates = [pack.template_id for pack in packs]
        if len(set(templates)) != len(templates):
            raise ValueError("one entry per template: give its count instead")
        return packs


class TierRule(_Data):
    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1, max_length=16)
    min_growth: int = Field(ge=0, le=10**9, description="成长值 in the window to reach the tier")
    keep_growth: int | None = Field(
        default=None, ge=0, le=10**9, description="to keep it at review; default min_growth"
    )
    work_tag_id: str | None = Field(default=None, max_length=64, description="WeChat Work tag of the tier")
    benefits: TierBenefits = TierBenefits()

    @property
    def growth_to_keep(self) -> int:
        return self.min_growth if self.keep_growth is None else self.keep_growth


class TierPolicy(_Data):
    window: Literal["lifetime", "calendar_year", "rolling_12_months"] = "lifetime"
    downgrade: Literal["one_step", "to_qualified"] = "one_step"
    review_months: int = Field(default=12, ge=1, le=36, description="months between reviews of a member")
    protection_days: int = Field(default=90, ge=0, le=730, description="no downgrade this long after an upgrade")
    warning_days: int = Field(default=30, ge=0, le=180, description="保级 warning this long before the review")
    growth_per_yuan: int = Field(default=1, ge=0, le=100, description="成长值 per whole yuan paid")


class Promotion(_Data):
    """A time-boxed earning rule (e.g. 会员日: the 15th, double points)."""

    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1, max_length=32)
    priority: int = Field(default=0, ge=0, le=1000)
    starts_on: date | None = None
    ends_on: date | None = None
    weekdays: tuple[int, ...] = Field(default=(), max_length=7, description="1 = Monday … 7 = Sunday")
    days_of_month: tuple[int, ...] = Field(default=(), max_length=31)
    store_ids: tuple[str, ...] = Field(default=(), max_length=200)
    skus: tuple[str, ...] = Field(default=(), max_length=500)
    categories: tuple[str, ...] = Field(default=(), max_length=100)
    multiplier: int | None = Field(default=None, ge=100, le=1000, description="in %, on the matching spend")
    bonus_points: int | None = Field(default=None, ge=1, le=MAX_POINTS, description="fixed, once per order")

    @model_validator(mode="after")
    def _one_reward(self) -> Promotion:
        if (self.multiplier is None) == (self.bonus_points is None):
            raise ValueError("a promotion gives either a multiplier or bonus_points")
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        if any(not 1 <= day <= 7 for day in self.weekdays) or any(not 1 <= d <= 31 for d in self.days_of_month):
            raise ValueError("weekdays are 1-7 and days_of_month 1-31")
        return self


class ActionRule(_Data):
    """Points for an action the brand's server reports (signed like POS)."""

    action: Literal["registration", "complete_profile", "first_purchase", "product_review", "share"]
    points: int = Field(ge=1, le=MAX_POINTS)
    per_day: int | None = Field(default=None, ge=1, le=1000)
    per_week: int | None = Field(default=None, ge=1, le=1000)
    per_month: int | None = Field(default=None, ge=1, le=1000)
    budget_points: int | None = Field(default=None, ge=1, le=10**10, description="all members, all time")


class EarningRules(_Data):
    points_per_unit: int = Field(default=1, ge=0, le=1000)
    unit_fen: int = Field(default=100, ge=1, le=MAX_FEN, description="spend per unit, in fen")
    rounding: Literal["floor", "round", "ceil"] = Field(
        default="floor", description="once per rule and order: the base's units, each extra (domain/earning.py)"
    )
    min_order_fen: int = Field(default=0, ge=0, le=MAX_FEN, description="eligible spend (after exclusions)")
    max_points_per_order: int | None = Field(default=None, ge=1, le=MAX_POINTS, description="a cap; none: no cap")
    excluded_skus: tuple[str, ...] = Field(default=(), max_length=500)
    excluded_categories: tuple[str, ...] = Field(default=(), max_length=100)
    combine: Literal["best", "stack"] = Field(default="best", description="promotions: the best one, or all")
    promotions: tuple[Promotion, ...] = Field(default=(), max_length=50)
    actions: tuple[ActionRule, ...] = Field(default=(), max_length=10)

    @field_validator("promotions")
    @classmethod
    def _unique_promotions(cls, promotions: tuple[Promotion, ...]) -> tuple[Promotion, ...]:
        if len({p.code for p in promotions}) != len(promotions):
            raise ValueError("promotion codes must be unique")
        return promotions

    @field_validator("actions")
    @classmethod
    def _unique_actions(cls, actions: tuple[ActionRule, ...]) -> tuple[ActionRule, ...]:
        if len({a.action for a in actions}) != len(actions):
            raise ValueError("one rule per action")
        return actions


class PointsDeduction(_Data):
    """积分抵扣 at checkout (domain/checkout.py): 100 points are ¥1 by default, at most half of
    what is due after the discounts, for a member holding at least `min_balance` points."""

    enabled: bool = True
    points_per_yuan: int = Field(default=100, ge=1, le=10_000)
    max_share_percent: int = Field(default=50, ge=1, le=100, description="of the order after discounts")
    min_balance: int = Field(default=0, ge=0, le=MAX_POINTS, description="points a member must hold to deduct")


class PointsPolicy(_Data):
    expiry: str = Field(default="rolling:12", pattern=r"^(rolling:[0-9]{1,2}|annual:[0-9]{2}-[0-9]{2})$")
    pending_days: int = Field(default=0, ge=0, le=90, description="冻结期: order points spendable after this")
    min_redeem_points: int = Field(default=0, ge=0, le=MAX_POINTS)
    deduction: PointsDeduction = PointsDeduction()


class CheckinMilestone(_Data):
    day: int = Field(ge=1, le=366)
    points: int = Field(ge=0, le=MAX_POINTS)
    kind: Literal["streak", "cumulative"] = "streak"


class CheckinRules(_Data):
    enabled: bool = True
    base_points: int = Field(default=5, ge=0, le=MAX_POINTS)
    milestones: tuple[CheckinMilestone, ...] = Field(default=(), max_length=31)
    reset: Literal["never", "weekly", "monthly"] = "never"
    makeup_cost_points: int | None = Field(default=None, ge=1, le=MAX_POINTS, description="补签; none: no make-up")
    makeup_days: int = Field(default=3, ge=1, le=31, description="how far back a make-up may go")

    @field_validator("milestones")
    @classmethod
    def _unique_milestones(cls, milestones: tuple[CheckinMilestone, ...]) -> tuple[CheckinMilestone, ...]:
        if len({(m.kind, m.day) for m in milestones}) != len(milestones):
            raise ValueError("one milestone per kind and day")
        return milestones

    @model_validator(mode="after")
    def _reachable(self) -> CheckinRules:
        """A weekly or monthly reset starts counting again: a milestone beyond it is never reached."""
        longest = {"weekly": 7, "monthly": 31}.get(self.reset)
        if longest is not None and any(m.day > longest for m in self.milestones):
            raise ValueError(f"with a {self.reset} reset no milestone can be beyond day {longest}")
        return self


class ReferralRules(_Data):
    enabled: bool = True
    referrer_points: int = Field(default=50, ge=0, le=MAX_POINTS)
    invitee_points: int = Field(default=50, ge=0, le=MAX_POINTS)
    reward_on: Literal["registration", "first_order_settled"] = "registration"
    per_referrer_month: int = Field(default=20, ge=1, le=10_000)
    return_window_days: int = Field(
        default=7, ge=0, le=90, description="first_order_settled: days after payment; points.pending_days wins if set"
    )


class GiftRules(_Data):
    """积分转赠 (domain/gifts.py): a member gives points to another member by member code."""

    enabled: bool = False
    daily_limit_points: int = Field(default=1000, ge=1, le=MAX_POINTS, description="per giver per Shanghai day")
    min_points: int = Field(default=1, ge=1, le=MAX_POINTS, description="the smallest gift")
    per_gift_max_points: int | None = Field(default=None, ge=1, le=MAX_POINTS, description="none: the daily limit")

    @model_validator(mode="after")
    def _reachable(self) -> GiftRules:
        if self.min_points > min(self.daily_limit_points, self.per_gift_max_points or MAX_POINTS):
            raise ValueError("min_points is above the daily limit or per_gift_max_points: no gift could be given")
        return self


class Programme(_Data):
    name: str = Field(min_length=1, max_length=64)
    tiers: tuple[TierRule, ...] = Field(min_length=1, max_length=12)
    default_tier: str = Field(pattern=CODE, description="a new member's tier: one of tiers")
    tier_policy: TierPolicy = TierPolicy()
    earning: EarningRules = EarningRules()
    points: PointsPolicy = PointsPolicy()
    checkin: CheckinRules = CheckinRules()
    referral: ReferralRules = ReferralRules()
    gift: GiftRules = GiftRules()
    wallet: WalletRules = WalletRules()  # 储值 (domain/wallet_rules.py): off until a brand offers it

    # Field validators, so that an error names its field (`programme.tiers`, `programme.default_tier`).
    @field_validator("tiers")
    @classmethod
    def _ladder(cls, tiers: tuple[TierRule, ...]) -> tuple[TierRule, ...]:
        codes = [tier.code for tier in tiers]
        if len(set(codes)) != len(codes):
            raise ValueError("tier codes must be unique")
        growths = [tier.min_growth for tier in tiers]
        if growths != sorted(growths) or len(set(growths)) != len(growths) or growths[0] != 0:
            raise ValueError("min_growth must start at 0 and rise strictly from the first tier to the last")
        return tiers

    @field_validator("default_tier")
    @classmethod
    def _known_tier(cls, code: str, info: ValidationInfo) -> str:
        if code not in [tier.code for tier in info.data.get("tiers", ())]:
            raise ValueError("not one of the tiers")
        return code

    def tier(self, code: str) -> TierRule | None:
        return next((tier for tier in self.tiers if tier.code == code), None)
