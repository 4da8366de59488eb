"""Check-ins (CheckinModel): the member's summary, a month of days, and the staged writes of
one check-in, which join the points transaction (`PointsChange.joins`).

A check-in stages two items, tagged `checkin:day` (put only if the day is not there: one
check-in per member and day, whatever races) and `checkin:state` (the summary, put only if
its version is still the one the plan read). Either refused means someone checked in
meanwhile: the points engine plans again, and the service reads the state afresh.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from chalicelib.domain.checkins import CheckinDay, CheckinPlan, CheckinState, Run
from chalicelib.store.models import CheckinModel
from chalicelib.store.tx import UnitOfWork

if TYPE_CHECKING:
    from chalicelib.domain.programme import CheckinMilestone

STATE = "state"  # the summary item's `day`: sorts after every date, matches no month


def load_state(member_id: str) -> CheckinState:
    try:
        item = CheckinModel.get(member_id, STATE, consistent_read=True)
    except CheckinModel.DoesNotExist:
        return CheckinState()
    runs = tuple(Run(date.fromisoformat(start), date.fromisoformat(end)) for start, end in item.runs or [])
    return CheckinState(runs, int(item.total or 0), int(item.version or 0))


def month_days(member_id: str, first: date) -> list[CheckinDay]:
    """The days checked in the month of `first`: one Query on the member's partition."""
    prefix = first.strftime("%Y-%m-")
    items = CheckinModel.query(member_id, CheckinModel.day.startswith(prefix), consistent_read=True)
    return [_day(item) for item in items]


def member_items(member_id: str) -> list[dict[str, Any]]:
    """Every item of the member, as held (the privacy export)."""
    rows = []
    for item in CheckinModel.query(member_id, consistent_read=True):
        values = {name: value for name, value in item.attribute_values.items() if name != "version"}
        rows.append(dict(sorted(values.items())))
    return rows


def stage(tx: UnitOfWork, member_id: str, plan: CheckinPlan, entry_id: str, at: str) -> None:
    """The day and the new summary, tagged `checkin:day` and `checkin:state`."""
    day = CheckinModel(
        member_id,
        plan.day.isoformat(),
        made_up=plan.made_up,
        earned=plan.earned,
        cost=plan.cost,
        milestones=[_milestone(m) for m in plan.reached],
        entry_id=entry_id,
        at=at,
    )
    tx.put("checkin:day", day, condition=CheckinModel.day.does_not_exist())
    after = plan.after
    summary = CheckinModel(
        member_id,
        STATE,
        runs=[[run.start.isoformat(), run.end.isoformat()] for run in after.runs],
        total=after.total,
        version=after.version,
        at=at,
    )
    read = plan.before.version
    guard = CheckinModel.day.does_not_exist() if read == 0 else CheckinModel.version == read
    tx.put("checkin:state", summary, condition=guard)


def _milestone(milestone: CheckinMilestone) -> dict[str, Any]:
    return {"kind": milestone.kind, "day": milestone.day, "points": milestone.points}


def _day(item: CheckinModel) -> CheckinDay:
    return CheckinDay(
        day=date.fromisoformat(item.day),
        made_up=bool(item.made_up),
        earned=int(item.earned or 0),
        cost=int(item.cost or 0),
        milestones=tuple(_stored_milestone(m) for m in item.milestones or []),
        at=item.at or "",
    )


def _stored_milestone(stored: Any) -> CheckinMilestone:
    from chalicelib.domain.programme import CheckinMilestone  # pydantic: loaded on use, not at cold start

    return CheckinMilestone.model_validate(stored)
