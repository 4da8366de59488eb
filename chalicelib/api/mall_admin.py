"""The points mall's admin routes (`/admin/mall`): rewards (create, edit, pause, resume, partner
codes) and fulfilments (list, show, ship, deliver, cancel). They share api/mall.py's blueprint,
which app.py registers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.api.auth import OPERATOR
from chalicelib.api.mall import bp
from chalicelib.api.mall_views import redemption_out, reward_out
from chalicelib.api.routing import Call, lazy_module, request_id, route
from chalicelib.clock import utc_now

if TYPE_CHECKING:
    from chalicelib.api import schemas_mall as s
else:
    s = lazy_module("chalicelib.api.schemas_mall")

REWARD = "/admin/mall/rewards/{reward_id}"
FULFILMENT = "/admin/mall/fulfilments/{redemption_id}"


@route(
    bp,
    "/admin/mall/rewards",
    "POST",
    auth_kind=OPERATOR,
    permission="mall.write",
    tag="admin",
    body="MallRewardIn",
    response="MallRewardOut",
    status=201,
    idempotency_key="required",
    summary="Define a reward: a coupon, a physical gift or a partner code; price, stock, limits, tiers, windows",
    errors=(400, 401, 409, 503),
)
def create_reward(call: Call) -> s.MallRewardOut:
    from chalicelib.domain.mall import RewardDefinition
    from chalicelib.services import mall_admin

    definition = RewardDefinition.model_validate(call.body.model_dump())
    return reward_out(mall_admin.create(call.caller, definition, str(call.idempotency_key), utc_now()))


@route(
    bp,
    "/admin/mall/rewards",
    "GET",
    auth_kind=OPERATOR,
    permission="mall.read",
    tag="admin",
    query="MallRewardListQuery",
    response="MallRewardListOut",
    summary="Rewards, newest first, with their stock",
    errors=(400, 401, 503),
)
def list_rewards(call: Call) -> s.MallRewardListOut:
    from chalicelib.services import mall_admin

    return s.MallRewardListOut(items=[reward_out(reward) for reward in mall_admin.listing(call.query.limit)])


@route(
    bp,
    REWARD,
    "GET",
    auth_kind=OPERATOR,
    permission="mall.read",
    tag="admin",
    response="MallRewardOut",
    summary="A reward with its stock: redeemed and remaining",
    errors=(400, 401, 404, 503),
)
def show_reward(call: Call) -> s.MallRewardOut:
    from chalicelib.store import mall_repo

    return reward_out(mall_repo.get(call.path["reward_id"]))


@route(
    bp,
    REWARD,
    "PUT",
    auth_kind=OPERATOR,
    permission="mall.write",
    tag="admin",
    body="MallRewardEditIn",
    response="MallRewardOut",
    summary="Edit a reward from its `version` (409 if it moved); the stock never goes below what was redeemed",
    errors=(400, 401, 404, 409, 503),
)
def edit_reward(call: Call) -> s.MallRewardOut:
    from chalicelib.domain.mall import RewardDefinition
    from chalicelib.services import mall_admin

    body: s.MallRewardEditIn = call.body
    definition = RewardDefinition.model_validate(body.model_dump(exclude={"version"}))
    return reward_out(mall_admin.edit(call.path["reward_id"], definition, body.version, call.caller, utc_now()))


@route(
    bp,
    REWARD + "/pause",
    "POST",
    auth_kind=OPERATOR,
    permission="mall.write",
    tag="admin",
    response="MallRewardOut",
    summary="Pause redemptions (暂停兑换); the reward stays on show, not redeemable",
    errors=(400, 401, 404, 503),
)
def pause_reward(call: Call) -> s.MallRewardOut:
    return _set_status(call, "paused")


@route(
    bp,
    REWARD + "/resume",
    "POST",
    auth_kind=OPERATOR,
    permission="mall.write",
    tag="admin",
    response="MallRewardOut",
    summary="Resume a paused reward",
    errors=(400, 401, 404, 503),
)
def resume_reward(call: Call) -> s.MallRewardOut:
    return _set_status(call, "active")


@route(
    bp,
    REWARD + "/codes",
    "POST",
    auth_kind=OPERATOR,
    permission="mall.write",
    tag="admin",
    body="MallCodesIn",
    response="MallCodesOut",
    summary="Upload partner codes (兑换码) to a partner-code reward's pool; a code the pool has is not added again",
    errors=(400, 401, 404, 409, 503),
)
def upload_codes(call: Call) -> s.MallCodesOut:
    from chalicelib.services import mall_admin

    done = mall_admin.upload_codes(call.path["reward_id"], call.body.codes, utc_now())
    return s.MallCodesOut(added=done.added, duplicates=done.duplicates, remaining=done.remaining)


@route(
    bp,
    "/admin/mall/fulfilments",
    "GET",
    auth_kind=OPERATOR,
    permission="mall.read",
    tag="admin",
    query="MallFulfilmentListQuery",
    response="MallFulfilmentListOut",
    summary="Physical gifts in one fulfilment status (pending by default), oldest first",
    errors=(400, 401, 503),
)
def list_fulfilments(call: Call) -> s.MallFulfilmentListOut:
    from chalicelib.domain.mall_redemptions import RedemptionStatus
    from chalicelib.services import mall_fulfilment

    query: s.MallFulfilmentListQuery = call.query
    found, cursor = mall_fulfilment.listing(RedemptionStatus(query.status), query.limit, query.cursor)
    return s.MallFulfilmentListOut(items=[redemption_out(r, for_member=False) for r in found], next_cursor=cursor)


@route(
    bp,
    FULFILMENT,
    "GET",
    auth_kind=OPERATOR,
    permission="mall.read",
    tag="admin",
    response="MallRedemptionOut",
    summary="A fulfilment with its address: the phone in full to operators and admins (the read is audited)",
    errors=(400, 401, 404, 503),
)
def show_fulfilment(call: Call) -> s.MallRedemptionOut:
    from chalicelib.services import mall_fulfilment

    key = request_id(bp).get("request_id")
    found = mall_fulfilment.label(call.path["redemption_id"], call.caller, call.role, utc_now(), key)
    return redemption_out(found, for_member=False)


@route(
    bp,
    FULFILMENT + "/ship",
    "POST",
    auth_kind=OPERATOR,
    permission="mall.write",
    tag="admin",
    body="MallShipIn",
    response="MallRedemptionOut",
    summary="Mark a fulfilment shipped with its carrier and tracking number (again: corrects them)",
    errors=(400, 401, 404, 409, 503),
)
def ship(call: Call) -> s.MallRedemptionOut:
    from chalicelib.services import mall_fulfilment

    body: s.MallShipIn = call.body
    found = mall_fulfilment.ship(call.path["redemption_id"], body.carrier, body.tracking_no, call.caller, utc_now())
    return redemption_out(found, for_member=False)


@route(
    bp,
    FULFILMENT + "/deliver",
    "POST",
    auth_kind=OPERATOR,
    permission="mall.write",
    tag="admin",
    response="MallRedemptionOut",
    summary="Mark a shipped fulfilment delivered",
    errors=(400, 401, 404, 409, 503),
)
def deliver(call: Call) -> s.MallRedemptionOut:
    from chalicelib.services import mall_fulfilment

    return redemption_out(mall_fulfilment.deliver(call.path["redemption_id"], utc_now()), for_member=False)


@route(
    bp,
    FULFILMENT + "/cancel",
    "POST",
    auth_kind=OPERATOR,
    permission="mall.write",
    tag="admin",
    body="MallCancelIn",
    response="MallRedemptionOut",
    summary="Cancel a pending fulfilment: the points go back into their lots and the units into stock, once",
    errors=(400, 401, 404, 409, 503),
)
def cancel(call: Call) -> s.MallRedemptionOut:
    from chalicelib.services import mall_fulfilment

    found = mall_fulfilment.cancel(call.path["redemption_id"], call.body.reason, call.caller, utc_now())
    return redemption_out(found, for_member=False)


def _set_status(call: Call, status: str) -> s.MallRewardOut:
    from chalicelib.domain.mall import RewardStatus
    from chalicelib.services import mall_admin

    return reward_out(mall_admin.set_status(call.path["reward_id"], RewardStatus(status), call.caller, utc_now()))
