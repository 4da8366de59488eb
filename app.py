"""wxmember: every entry point of the system on one screen."""

from typing import Any

from chalice import Chalice, Cron, Rate

from chalicelib.api import (
    actions,
    admin,
    campaigns,
    checkins,
    docs,
    grants,
    imports,
    member,
    members_admin,
    operators,
    pos,
    privacy,
    programme,
    referrals,
    staff,
    subscriptions,
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
app.register_blueprint(campaigns.bp)
app.register_blueprint(staff.bp)
app.register_blueprint(wechat_callbacks.bp)
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
