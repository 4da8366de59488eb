"""Closing an account (注销) under failure and concurrency: interrupted half-way, a re-run
finishes it; racing an order or a second closing, it ends with nothing personal left and the
ledger reconciling."""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.clock import utc_now
from chalicelib.domain.errors import Busy, MemberNotFound
from chalicelib.services import orders, privacy_deletion
from chalicelib.services.reconcile import reconcile
from chalicelib.store import tx
from chalicelib.store.models import MemberModel
from tests.integration.test_privacy import _scan_all, seed_member
from tests.support.api import Api, member_headers
from tests.support.notify import reset_fake_wechat

ORDERS = 12


class Crash(Exception):
    """The Lambda died here."""


@pytest.mark.parametrize(("crash_after", "chunk"), [(1, None), (2, None), (3, None), (3, 3)])
def test_deletion_interrupted_after_a_transaction_is_completed_by_a_rerun(
    api: Api, fake_wechat: str, monkeypatch: pytest.MonkeyPatch, crash_after: int, chunk: int | None
) -> None:
    """The seeded member has a pending request (rejected first), personal data (erased next)
    and points (closed last): a crash after each of those transactions, and in the middle of an
    erasure spread over several transactions (a small chunk size)."""
    reset_fake_wechat(fake_wechat)
    if chunk is not None:
        monkeypatch.setattr(privacy_deletion, "CHUNK", chunk)
    seeded = seed_member(api, f"crash{crash_after}", "13600001111")
    commits = {"n": 0}
    original = tx.UnitOfWork.commit

    def commit_then_crash(self: tx.UnitOfWork) -> None:
        original(self)
        commits["n"] += 1
        if commits["n"] == crash_after:
            raise Crash(f"after transaction {crash_after}")

    monkeypatch.setattr(tx.UnitOfWork, "commit", commit_then_crash)
    with pytest.raises(Crash):
        privacy_deletion.delete_member(seeded.member_id, f"member:{seeded.member_id}", utc_now())
    monkeypatch.setattr(tx.UnitOfWork, "commit", original)
    expected = "active" if crash_after == 1 else "deleting"
    assert (MemberModel.get(seeded.member_id).status or "active") == expected, "the crash left it unfinished"
    assert list(reconcile([seeded.member_id, seeded.follower_id])) == [], "no transaction is ever half-applied"

    rerun = api.http.post("/v1/me/deletion", headers=member_headers(seeded.token))  # the member asks again

    assert rerun.status_code == 200, rerun.body
    assert rerun.json_body["released"]["points_forfeited"] > 0 and rerun.json_body["released"]["requests"] == 1
    held = json.dumps(_scan_all(), ensure_ascii=False)
    assert [secret for secret in seeded.secrets if secret in held] == []
    assert MemberModel.get(seeded.member_id).status == "deleted" and api.me(seeded.token).status_code == 401
    assert list(reconcile()) == []


def _order(member: dict[str, str], order_id: str) -> int | None:
    try:
        result = orders.record_order(
            order_id, orders.MemberRef(**member), 10_000, utc_now(), None, utc_now(), pos_client="pos-1"
        )
        return result.points_earned
    except MemberNotFound:
        return None  # the openid was released first: no member by it any more


@pytest.mark.parametrize("by", ["member_id", "openid"])
def test_deletion_racing_orders_ends_with_no_personal_data_and_reconcile_clean(api: Api, by: str) -> None:
    token, member_id = api.login(f"racer_{by}")
    api.order(f"RC-{by}-0", {"member_id": member_id}, 20_000)
    member = {"member_id": member_id} if by == "member_id" else {"openid": f"o_racer_{by}"}
    started = threading.Barrier(2)

    def keep_ordering() -> list[int | None]:
        """A till reporting orders a few milliseconds apart while the account closes."""
        started.wait()
        earned = []
        for n in range(1, ORDERS + 1):
            earned.append(_order(member, f"RC-{by}-{n}"))
            time.sleep(random.uniform(0, 0.02))
        return earned

    def close() -> Any:
        started.wait()
        for _ in range(5):
            try:
                return privacy_deletion.delete_member(member_id, "alice", utc_now())
            except Busy:  # 503: the client asks again, and the closing resumes where it stopped
                continue
        raise AssertionError("the closing never finished")

    with ThreadPoolExecutor(max_workers=2) as pool:
        ordering, closing = pool.submit(keep_ordering), pool.submit(close)
        result, earned = closing.result(timeout=120), ordering.result(timeout=120)

    assert result.status == "deleted" and len(earned) == ORDERS
    item = MemberModel.get(member_id)
    assert item.status == "deleted" and item.mini_openid is None and item.unionid is None
    held = json.dumps(_scan_all(), ensure_ascii=False)
    assert f"o_racer_{by}" not in held and f"u_racer_{by}" not in held
    assert list(reconcile([member_id])) == []
    if by == "openid":
        assert earned[-1] is None, "once the openid is released, an order naming it finds no member"
    assert api.me(token).status_code == 401


def test_two_deletions_at_once_end_as_one(api: Api) -> None:
    token, member_id = api.login("twice")
    api.order("TW-1", {"member_id": member_id}, 50_000)

    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(lambda who: privacy_deletion.delete_member(member_id, who, utc_now()), ["a", "b", "c"]))

    assert {run.status for run in runs} == {"deleted"}
    assert {run.counts["points_forfeited"] for run in runs} == {500}, "the points were closed once"
    assert list(reconcile([member_id])) == []
    assert api.me(token).status_code == 401
