"""wxmember: every entry point of the system on one screen."""

from typing import Any

from chalice import Chalice, Cron, Rate

from chalicelib.api import (
    actions,
    admin,
    campaigns,
    checkins,
    checkout,
    coupons,
    docs,
    gifts,
    grants,
    imports,
    mall,
    member,
    member_card,
    members_admin,
    operators,
    pay_notify,
    pos,
    privacy,
    programme,
    referrals,
    staff,
    subscriptions,
    wallet,
    wechat_callbacks,
)
from chalicelib.observability import lambda_middleware
from chalicelib.settings import table_settings

# Powertools' Logger owns logging; Chalice's own handler would print every line twice.
app = Chalice(app_name="wxmember", configure_logs=False)
app.api.binary_types = []

# One middleware for every invocation (API, schedules, SQS, streams): log keys, correlation id, metrics.
app.register_middleware(lambda_middleware, "all")
app.register_blueprint(member.bp)
app.register_blueprint(subscriptions.bp)
app.register_blueprint(pos.bp)
app.register_blueprint(checkout.bp)
app.register_blueprint(actions.bp)
app.register_blueprint(admin.bp)
app.register_blueprint(operators.bp)
app.register_blueprint(members_admin.bp)
app.register_blueprint(grants.bp)
app.register_blueprint(imports.bp)
app.register_blueprint(privacy.bp)
app.register_blueprint(programme.bp)
app.register_blueprint(checkins.bp)
app.register_blueprint(referrals.bp)
app.register_blueprint(gifts.bp)
app.register_blueprint(coupons.bp)
app.register_blueprint(wallet.bp)
app.register_blueprint(member_card.bp)
app.register_blueprint(mall.bp)
app.register_blueprint(campaigns.bp)
app.register_blueprint(staff.bp)
app.register_blueprint(wechat_callbacks.bp)
app.register_blueprint(pay_notify.bp)
app.register_blueprint(docs.bp)


# Scheduled jobs (EventBridge). Times are UTC: 16:05 UTC is 00:05 in Asia/Shanghai.
# Each job body takes `now`, so the local worker and tests run them at any time they like.
@app.schedule(Cron(5, 16, "*", "*", "?", "*"), name="expire-points")
def expire_points(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("expire-points", event)


@app.schedule(Cron(0, 2, "*", "*", "?", "*"), name="expiry-reminders")
def expiry_reminders(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("expiry-reminders", event)


@app.schedule(Cron(0, 1, "*", "*", "?", "*"), name="birthday-gifts")
def birthday_gifts(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("birthday-gifts", event)


@app.schedule(Cron(0, 3, "*", "*", "?", "*"), name="dormant-reactivation")
def dormant_reactivation(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("dormant-reactivation", event)


@app.schedule(Rate(5, unit=Rate.MINUTES), name="campaigns")
def send_campaigns(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("campaigns", event)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="grants")
def run_grants(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("grants", event)


# 10:30 in Shanghai: the 保级 warnings are member messages, sent in the day.
@app.schedule(Cron(30, 2, "*", "*", "?", "*"), name="tier-review")
def tier_review(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("tier-review", event)


# Pending order points (冻结期) whose return window has passed become spendable: 00:15 in Shanghai.
@app.schedule(Cron(15, 16, "*", "*", "?", "*"), name="release-pending")
def release_pending(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("release-pending", event)


# Referral rewards that wait for the invitee's first order to pass its return window: 00:25 in Shanghai.
@app.schedule(Cron(25, 16, "*", "*", "?", "*"), name="referral-rewards")
def referral_rewards(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("referral-rewards", event)


# WeChat Pay top-ups still pending after a few minutes: asked of WeChat Pay, settled or closed.
@app.schedule(Rate(2, unit=Rate.MINUTES), name="settle-topups")
def settle_topups(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("settle-topups", event)


# Coupons ending soon (优惠券到期提醒): 10:00 in Shanghai, member messages are sent in the day.
@app.schedule(Cron(0, 2, "*", "*", "?", "*"), name="coupon-reminders")
def coupon_reminders(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("coupon-reminders", event)


# Tier benefit packs (等级权益券包), e.g. 金卡 gets two 满200减30 each month: 00:40 in Shanghai.
@app.schedule(Cron(40, 16, "*", "*", "?", "*"), name="tier-coupon-packs")
def tier_coupon_packs(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("tier-coupon-packs", event)


# The WeChat member cards (会员卡) that changed: their bonus and balance checked against ours, 03:30 in Shanghai.
@app.schedule(Cron(30, 19, "*", "*", "?", "*"), name="member-card-reconcile")
def member_card_reconcile(event: Any) -> dict[str, Any]:
    from chalicelib.jobs.runner import run_scheduled

    return run_scheduled("member-card-reconcile", event)


# The outbox relay: the outbox table's stream → the events queue (partial batch failures).
@app.on_dynamodb_record(
    stream_arn=table_settings().relay_stream_arn, batch_size=100, starting_position="TRIM_HORIZON", name="outbox-relay"
)
def outbox_relay(event: Any) -> dict[str, Any]:
    from chalicelib.notify.relay import relay_batch

    return relay_batch(event.to_dict())


# The notification sender and background tasks: one SQS queue, partial batch failures.
@app.on_sqs_message(queue=table_settings().events_queue_name, batch_size=10, name="events-worker")
def events_worker(event: Any) -> dict[str, Any]:
    from chalicelib.notify.consumer import handle_batch

    return handle_batch(event.to_dict(), event.context)
