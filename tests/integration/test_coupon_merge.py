"""Coupons through a member merge (会员合并): the survivor holds the merged member's coupons —
unused ones usable by the survivor exactly once, used ones with their history — their codes
resolve to the survivor, the per-member limit counts them, and a re-run moves nothing twice.
A move the merge could not finish is left to the worker (`task.move_coupons`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.domain.coupons import CouponStatus
from chalicelib.domain.events import DomainEvent
from chalicelib.notify import consumer
from chalicelib.services import coupon_moves, coupons, identity
from chalicelib.store import coupon_moves_repo, coupons_repo
from chalicelib.store.models import CouponCodeModel, CouponModel, CouponTemplateModel
from tests.support.api import Api, dumps, member_headers, operator_headers
from tests.support.worker import drain

NOW = clock.utc_now


def template(api: Api, key: str = "t1", **changes: Any) -> str:
    body = {
        "name": "满200减30",
        "benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 3000},
        "validity": {"kind": "days_after_claim", "days": 7},
        "stock": 100,
        "channel": "both",
        **changes,
    }
    headers = {**operator_headers(), "Idempotency-Key": key}
    response = api.http.post("/admin/coupon-templates", body=dumps(body), headers=headers)
    assert response.status_code == 201, response.body
    return str(response.json_body["template_id"])


def claim(api: Api, token: str, template_id: str, key: str) -> Any:
    headers = member_headers(token, **{"Idempotency-Key": key})
    return api.http.post(f"/v1/coupons/{template_id}/claims", body=b"", headers=headers)


def mine(api: Api, token: str, status: str = "unused") -> list[str]:
    response = api.http.get(f"/v1/me/coupons?status={status}", headers=member_headers(token))
    assert response.status_code == 200, response.body
    return sorted(item["code"] for item in response.json_body["items"])


def use(code: str) -> bool:
    """What a redemption (核销) does: resolve the code, then a conditional update of the coupon
    it names, from unused (or returned) to used; refused, the code is resolved again once."""
    for _ in range(2):
        coupon = coupons.resolve(code, NOW())
        if coupon.status_at(NOW()) not in (CouponStatus.UNUSED, CouponStatus.RETURNED):
            return False
        try:
            CouponModel(coupon.member_id, coupon.coupon_id).update(
                actions=[CouponModel.status.set("used"), CouponModel.used_at.set(NOW().isoformat())],
                condition=CouponModel.status.is_in("unused", "returned"),
            )
            return True
        except Exception:  # noqa: BLE001 - the condition failed: moved or used meanwhile
            continue
    return False


def merge(survivor: str, merged: str) -> None:
    identity.merge_members(survivor, merged, trigger="admin", now=NOW(), operator="alice", approved_by="bob")


def run_move_tasks() -> list[str]:
    handled = []
    for body in drain():
        if body["kind"] == coupon_moves.TASK:
            consumer.dispatch(DomainEvent.from_json(json.dumps(body)))
            handled.append(body["event_id"])
    return handled


def test_the_survivor_holds_the_merged_members_coupons_and_uses_each_once(api: Api) -> None:
    template_id = template(api)
    token_a, a = api.login("coupon-a")
    token_b, b = api.login("coupon-b")
    unused = claim(api, token_a, template_id, "k1").json_body["code"]
    used = claim(api, token_a, template_id, "k2").json_body["code"]
    own = claim(api, token_b, template_id, "k3").json_body["code"]
    assert use(used)

    merge(b, a)

    assert mine(api, token_b) == sorted([unused, own])
    assert mine(api, token_b, "used") == [used]
    assert mine(api, token_a) == sorted([unused, own])  # the merged member's old token reaches the survivor
    assert list(CouponModel.query(a)) == []
    assert CouponCodeModel.get(unused).member_id == b and coupons.resolve(unused, NOW()).member_id == b
    assert api.http.get(f"/v1/me/coupons/{unused}/qr", headers=member_headers(token_b)).status_code == 200
    moved_used = coupons_repo.find_by_code(used)
    assert moved_used is not None and moved_used.used_at is not None  # its history came along
    assert use(unused) and not use(unused)
    assert mine(api, token_b) == [own]


def test_rerunning_the_merge_or_the_move_changes_nothing(api: Api) -> None:
    template_id = template(api)
    token_a, a = api.login("again-a")
    _, b = api.login("again-b")
    codes = [claim(api, token_a, template_id, f"k{n}").json_body["code"] for n in range(3)]
    merge(b, a)
    before = sorted(json.dumps(item.to_simple_dict(), sort_keys=True) for item in CouponModel.scan())
    counted = CouponTemplateModel.get(f"{template_id}#m#{b}").claimed

    merge(b, a)
    assert coupon_moves.move_coupons(a, b) is True

    after = sorted(json.dumps(item.to_simple_dict(), sort_keys=True) for item in CouponModel.scan())
    assert after == before and len(after) == 3
    assert CouponTemplateModel.get(f"{template_id}#m#{b}").claimed == counted == 3
    assert sorted(c.code for c in coupons_repo.member_coupons(b)) == sorted(codes)


def test_the_per_member_limit_counts_what_the_survivor_now_holds(api: Api) -> None:
    template_id = template(api, per_member_limit=2)
    token_a, a = api.login("limit-a")
    token_b, b = api.login("limit-b")
    assert claim(api, token_a, template_id, "k1").status_code == 201
    assert claim(api, token_a, template_id, "k2").status_code == 201

    merge(b, a)
    refused = claim(api, token_b, template_id, "k3")

    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "coupon_limit_reached"
    assert len(mine(api, token_b)) == 2


def test_a_move_the_merge_could_not_finish_is_done_by_the_worker(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    template_id = template(api)
    token_a, a = api.login("later-a")
    token_b, b = api.login("later-b")
    codes = [claim(api, token_a, template_id, f"k{n}").json_body["code"] for n in range(2)]
    drain()
    real_move = coupon_moves_repo.move

    def unavailable(*args: Any) -> Any:
        raise RuntimeError("DynamoDB is unavailable")

    monkeypatch.setattr(coupon_moves_repo, "move", unavailable)
    merge(b, a)  # the merge stands
    assert mine(api, token_b) == []
    monkeypatch.setattr(coupon_moves_repo, "move", real_move)

    handled = run_move_tasks()

    assert len(handled) == 1
    assert mine(api, token_b) == sorted(codes)
    assert run_move_tasks() == []


def test_more_coupons_than_the_merge_moves_inline_go_through_the_worker(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(coupon_moves, "INLINE", 2)
    template_id = template(api)
    token_a, a = api.login("many-a")
    token_b, b = api.login("many-b")
    codes = [claim(api, token_a, template_id, f"k{n}").json_body["code"] for n in range(5)]
    drain()

    merge(b, a)
    inline = len(mine(api, token_b))
    handled = run_move_tasks()

    assert inline == 2 and len(handled) == 1
    assert mine(api, token_b) == sorted(codes)


def test_a_move_task_onto_a_survivor_merged_on_since_reaches_the_last_survivor(api: Api) -> None:
    template_id = template(api)
    token_a, a = api.login("chain-a")
    token_b, b = api.login("chain-b")
    token_c, c = api.login("chain-c")
    code = claim(api, token_a, template_id, "k1").json_body["code"]
    merge(c, b)  # b is gone into c before a's coupons move onto b

    coupon_moves.move_task(
        DomainEvent("t", coupon_moves.TASK, b, NOW().isoformat(), {"merged_id": a, "survivor_id": b})
    )

    assert mine(api, token_c) == [code]
    assert list(CouponModel.query(b)) == []
