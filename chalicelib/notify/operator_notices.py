"""Messages to operators (运营通知) through the WeChat Work app: the requester of an approval
hears its decision (`approval.decided`).

Sent once per event (`delivery.deliver_once`, `<event id>#operator`) to the requester's
`wecom_userid`. A request a member made (a merge a phone binding asked for, `member:<id>`),
an operator without a WeChat Work userid, or one disabled since, hears nothing. Texts are
configuration (`notify_templates.zh-CN.json`, the event kind's `operator` entry).
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.approvals import MEMBER_REQUESTER
from chalicelib.domain.events import DomainEvent
from chalicelib.notify import templates
from chalicelib.notify.delivery import Outcome, deliver_once, send
from chalicelib.observability import logger
from chalicelib.settings import get_settings
from chalicelib.store import operators_repo


def deliver(event: DomainEvent) -> None:
    requester = str(event.data.get("requested_by") or "")
    spec = (templates.template(event.kind) or {}).get("operator")
    if not spec or not requester or requester.startswith(MEMBER_REQUESTER):
        logger.info("no operator to notify of this decision")
        return
    operator = operators_repo.get(requester)
    if operator is None or not operator.active or not operator.wecom_userid:
        logger.info("requester has no WeChat Work userid (or is disabled); not notified")
        return
    userid, text = operator.wecom_userid, decision_text(spec, event.data)
    deliver_once(f"{event.event_id}#operator", event.member_id or "", lambda: _to_operator(userid, text))


def decision_text(spec: dict[str, Any], data: dict[str, Any]) -> str:
    """`您提交的积分调整（会员 m_1，+5000）已被 bob 驳回：原因`: the subject by the request's kind,
    then the sentence for its decision."""
    values = {**data, "points_signed": f"{int(data.get('points') or 0):+d}"}
    subjects: dict[str, str] = spec["subjects"]
    subject = subjects.get(str(data.get("approval_kind")), subjects["other"])
    values["subject"] = templates.render(subject, values)
    sentence = spec.get(str(data.get("status")), spec["other"])
    return templates.render(sentence, values)


def _to_operator(userid: str, text: str) -> Outcome:
    body = {
        "touser": userid,
        "msgtype": "text",
        "agentid": int(get_settings().wechat_work_agentid),
        "text": {"content": text},
    }
    return send("work", "cgi-bin/message/send", body)
