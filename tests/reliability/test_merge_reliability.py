"""Merges under stress: concurrent earn/redeem on both members, crashes between the steps,
concurrent merges of the same pair (either way round), concurrent logins revealing a duplicate."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.domain.errors import Busy, InsufficientPoints, MergeConflict
from chalicelib.domain.ledger import EntryNote
from chalicelib.domain.members import Member
from chalicelib.services import identity, orders, points
from chalicelib.services.reconcile import reconcile
from chalicelib.store import members_repo, merge_repo, points_repo

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)


def _pair(lots_b: int = 1) -> tuple[str, str]:
    members_repo.create_member(Member("m_a", "2026-01-01T00:00:00Z"), ["mini:o_a", "union:u_a"])
    members_repo.create_member(Member("m_b", "2026-02-01T00:00:00Z"), ["mini:o_b", "phone:h_b"])
    points.earn("m_a", 500, points.operation("seed:a", {}, NOW))
    for month in range(lots_b):
        earned_at = datetime(2026, 1 + month % 12, 10, tzinfo=UTC).replace(year=2026 + month // 12)
        points.earn("m_b", 10, points.operation(f"seed:b:{month}", {}, earned_at))
    return "m_a", "m_b"


def _total(*member_ids: str) -> int:
    return sum(members_repo.get_member(m).balance for m in member_ids)


def _merge_entries(member_id: str) -> list[str]:
    return sorted(e.entry_id for e in points_repo.iter_member_entries(member_id) if e.kind == "merge")


def test_merge_concurrent_with_earn_and_redeem_on_both_members_conserves_points(tables: None) -> None:
    a, b = _pair()
    before = _total(a, b)
    lock, deltas = threading.Lock(), Counter[str]()

    def spender(thread: int) -> None:
        rng = random.Random(thread)
        for n in range(25):
            member_id = rng.choice([a, b])
            try:
                if rng.random() < 0.5:
                    result = orders.record_order(
                        f"c{thread}-{n}",
                        orders.MemberRef(member_id=member_id),
                        1_000,
                        NOW,
                        None,
                        NOW,
                        pos_client="pos-1",
                    )
                    delta, key = result.points_earned, f"order:c{thread}-{n}"
                else:
                    op = points.operation(f"redeem:{member_id}:c{thread}-{n}", {"n": n}, NOW)
                    entry = points.redeem(member_id, rng.randint(1, 30), op, note=EntryNote(reason="gift"))
                    delta, key = entry.delta, entry.entry_id
            except (InsufficientPoints, Busy):
                continue
            with lock:
                deltas[key] += delta

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(spender, t) for t in range(5)]
        merged = pool.submit(_merge_retrying_busy, a, b)
        for future in futures:
            future.result()
        assert merged.result().status == "done"

    assert members_repo.get_member(b).balance == 0 and members_repo.get_member(b).merged_into == a
    assert members_repo.get_member(a).balance == before + sum(deltas.values()), "a point was lost or doubled"
    assert points_repo.load_lots(b) == []
    assert list(reconcile([a, b])) == []


def _merge_retrying_busy(survivor_id: str, merged_id: str) -> Any:
    """As the operator or the queue would: a 503 `busy` is retried with the same request."""
    for _ in range(3):
        try:
            return identity.merge_members(survivor_id, merged_id, trigger="operator", now=NOW)
        except Busy:
            continue
    raise AssertionError("merge starved")


class Crash(Exception):
    pass


def _crash_once(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, after_calls: int = 0) -> None:
    """`module.name` raises Crash on its call number `after_calls` + 1 (once), after doing its work."""
    original: Callable[..., Any] = getattr(module, name)
    calls = {"n": 0}

    def crashing(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == after_calls + 1:
            raise Crash(name)
        return result

    monkeypatch.setattr(module, name, crashing)


@pytest.mark.parametrize(
    ("step", "after_calls", "lots_b"),
    [
        ("start", 0, 1),
        ("commit_step", 0, 1),
        ("commit_step", 0, 13),  # after the first of two points transactions
        ("move_alias", 0, 1),
        ("copy_profile_gaps", 0, 1),
        ("finish", 0, 1),
    ],
)
def test_crash_between_merge_steps_is_finished_by_a_rerun_without_doubling(
    tables: None, monkeypatch: pytest.MonkeyPatch, step: str, after_calls: int, lots_b: int
) -> None:
    a, b = _pair(lots_b)
    before = _total(a, b)
    _crash_once(monkeypatch, merge_repo, step, after_calls)
    with pytest.raises(Crash):
        identity.merge_members(a, b, trigger="operator", now=NOW)
    monkeypatch.undo()

    record = identity.merge_members(a, b, trigger="operator", now=NOW)
    again = identity.merge_members(a, b, trigger="operator", now=NOW)

    assert record == again and record.status == "done"
    assert record.detail["points"] == 10 * lots_b and record.detail["lots"] == lots_b
    assert _total(a, b) == before and members_repo.get_member(a).balance == before
    assert members_repo.find_member_ids(["mini:o_b", "phone:h_b"]) == {"mini:o_b": a, "phone:h_b": a}
    assert "merge:m_b:out" in _merge_entries(b) and _merge_entries(b) == sorted(record.detail["entries"])
    assert len(_merge_entries(a)) == len(_merge_entries(b))
    assert list(reconcile([a, b])) == []


def test_a_login_after_a_crashed_merge_resumes_it(tables: None, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = _pair()
    _crash_once(monkeypatch, merge_repo, "commit_step")
    with pytest.raises(Crash):
        identity.merge_members(a, b, trigger="login", now=NOW)
    monkeypatch.undo()

    member_id, created = identity.find_or_create(["mini:o_b"], NOW)

    assert (member_id, created) == (a, False)
    assert merge_repo.get(b).status == "done"  # type: ignore[union-attr]
    assert members_repo.find_member_ids(["mini:o_b"]) == {"mini:o_b": a}


def test_concurrent_merges_of_the_same_pair_have_one_effect(tables: None) -> None:
    a, b = _pair(lots_b=3)
    before = _total(a, b)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: identity.merge_members(a, b, trigger="operator", now=NOW), range(8)))
    assert all(result == results[0] for result in results)
    assert _merge_entries(b) == ["merge:m_b:out"] and _merge_entries(a) == ["merge:m_b:in"]
    assert members_repo.get_member(a).balance == before
    assert list(reconcile([a, b])) == []


def test_merges_of_one_pair_both_ways_round_at_once_join_them_once(tables: None) -> None:
    a, b = _pair(lots_b=2)
    before = _total(a, b)

    def merge(pair: tuple[str, str]) -> str:
        try:
            return identity.merge_members(pair[0], pair[1], trigger="operator", now=NOW).survivor_id
        except MergeConflict:
            return "conflict"

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(merge, [(a, b), (b, a)] * 4))

    survivors = {o for o in outcomes if o != "conflict"}
    assert len(survivors) == 1
    survivor = survivors.pop()
    loser = b if survivor == a else a
    assert members_repo.get_member(loser).merged_into == survivor
    assert members_repo.get_member(survivor).merged_into is None
    assert members_repo.get_member(survivor).balance == before
    assert list(reconcile([a, b])) == []


def test_concurrent_logins_revealing_a_duplicate_merge_it_once(tables: None) -> None:
    members_repo.create_member(Member("m_union", "2026-03-01T00:00:00Z"), ["union:u_lin", "mp:mp_lin"])
    members_repo.create_member(Member("m_mini", "2026-01-01T00:00:00Z"), ["mini:o_lin"])
    points.earn("m_mini", 70, points.operation("seed:mini", {}, NOW))

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: identity.find_or_create(["union:u_lin", "mini:o_lin"], NOW), range(8)))

    assert set(ids) == {("m_union", False)}, "the member holding the unionid survives, although younger"
    assert members_repo.get_member("m_union").balance == 70
    assert _merge_entries("m_mini") == ["merge:m_mini:out"]
    assert list(reconcile(["m_union", "m_mini"])) == []
