"""PynamoDB models: the one source of truth for every table, one module per aggregate.

`infra/tables.json` (CloudFormation) and the local tables are generated from these
classes (`python -m chalicelib.cli infra`); a test fails when they disagree. A new aggregate
adds its module here and its models to `ALL_MODELS`.

PynamoDB fixes `Meta.table_name` when the class is defined, so settings are read at import
(`_base.py`): the store package is imported lazily, after the environment is final.
"""

from __future__ import annotations

from pynamodb.models import Model

from chalicelib.store.models.checkins import CheckinModel
from chalicelib.store.models.checkout import CheckoutModel, CheckoutsByMember, CheckoutsByTradeNo, CheckoutsHeld
from chalicelib.store.models.coupons import (
    CouponCodeModel,
    CouponModel,
    CouponsDue,
    CouponTemplateModel,
    TemplatesListed,
)
from chalicelib.store.models.grants import GrantChunkModel, GrantModel, GrantsRunning
from chalicelib.store.models.jobs import JobStateModel
from chalicelib.store.models.mall import (
    CodesPool,
    FulfilmentsByStatus,
    MallRedemptionModel,
    MallRewardModel,
    RedemptionsById,
    RewardsListed,
)
from chalicelib.store.models.member_card import CardsByChangedDay, MemberCardModel
from chalicelib.store.models.members import (
    AliasesByMember,
    IdentityModel,
    MemberModel,
    MembersByActiveDay,
    MembersByBirthday,
    MembersByTier,
)
from chalicelib.store.models.merges import MergeModel
from chalicelib.store.models.notify import CampaignModel, CampaignsDue, ConsentModel, DeliveryModel
from chalicelib.store.models.operators import AuditModel, OperatorModel
from chalicelib.store.models.outbox import OutboxModel
from chalicelib.store.models.points import (
    ApprovalModel,
    CounterModel,
    LedgerEntryModel,
    LotsByExpiry,
    MemberLedgerIndex,
    PendingPointsModel,
    PointsLotModel,
)
from chalicelib.store.models.programme import ProgrammeVersionModel
from chalicelib.store.models.referrals import ReferralModel, ReferralsByReferrer, ReferralsDue
from chalicelib.store.models.wallet import (
    PayNotificationModel,
    RefundsOpen,
    TopupModel,
    TopupsByMember,
    TopupsOpen,
    WalletEntryModel,
    WalletModel,
    WalletRefundModel,
)
from chalicelib.store.models.wechat import CallbackModel, WeChatTokenModel

ALL_MODELS: tuple[type[Model], ...] = (
    CheckoutModel,
    MemberModel,
    IdentityModel,
    LedgerEntryModel,
    PointsLotModel,
    ApprovalModel,
    CounterModel,
    OutboxModel,
    WeChatTokenModel,
    CallbackModel,
    MergeModel,
    DeliveryModel,
    ConsentModel,
    CampaignModel,
    JobStateModel,
    OperatorModel,
    AuditModel,
    ProgrammeVersionModel,
    GrantModel,
    GrantChunkModel,
    CheckinModel,
    CouponTemplateModel,
    CouponModel,
    CouponCodeModel,
    ReferralModel,
    PendingPointsModel,
    WalletModel,
    WalletEntryModel,
    TopupModel,
    WalletRefundModel,
    PayNotificationModel,
    MallRewardModel,
    MallRedemptionModel,
    MemberCardModel,
)

__all__ = [
    "MembersByBirthday",
    "MembersByActiveDay",
    "MembersByTier",
    "MemberModel",
    "AliasesByMember",
    "IdentityModel",
    "MemberLedgerIndex",
    "LedgerEntryModel",
    "LotsByExpiry",
    "PointsLotModel",
    "ApprovalModel",
    "CounterModel",
    "OutboxModel",
    "WeChatTokenModel",
    "CallbackModel",
    "MergeModel",
    "DeliveryModel",
    "ConsentModel",
    "CampaignsDue",
    "CampaignModel",
    "JobStateModel",
    "OperatorModel",
    "ProgrammeVersionModel",
    "AuditModel",
    "GrantsRunning",
    "GrantModel",
    "GrantChunkModel",
    "CheckinModel",
    "CouponTemplateModel",
    "TemplatesListed",
    "CouponModel",
    "CouponsDue",
    "CouponCodeModel",
    "ReferralModel",
    "ReferralsByReferrer",
    "ReferralsDue",
    "PendingPointsModel",
    "WalletModel",
    "WalletEntryModel",
    "TopupsByMember",
    "TopupsOpen",
    "TopupModel",
    "RefundsOpen",
    "WalletRefundModel",
    "PayNotificationModel",
    "MallRewardModel",
    "RewardsListed",
    "CodesPool",
    "MallRedemptionModel",
    "FulfilmentsByStatus",
    "RedemptionsById",
    "MemberCardModel",
    "CardsByChangedDay",
    "ALL_MODELS",
    "CheckoutModel",
    "CheckoutsByMember",
    "CheckoutsByTradeNo",
    "CheckoutsHeld",
]
