"""Referral rewards (邀请有礼) under concurrency against the embedded moto server: eight runs
paying one invitee pay once, the daily job racing a phone binding pays once, a referrer near
the month's cap is paid exactly up to it, two accounts of one phone are paid as one person,
racing logins bind once, and a replay changes nothing. The ledger reconciles after each."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

import pytest

from chalicelib.clock import iso
from chalicelib.domain import ledger as kinds
from chalicelib.domain.members import Member
from chalicelib.domain.referrals import Referral, ReferralStatus, month_counter, person_claims
from chalicelib.services import member_codes, programme, referrals
from chalicelib.services.reconcile import reconcile
from chalicelib.settings import get_settings
from chalicelib.store import counters_repo, members_repo, referrals_repo
from chalicelib.store.tx import UnitOfWork
from tests.support.faults import inject, transaction_conflict
from tests.support.programme import publish_with
from tests.support.race import race

THREADS = 8
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # noon in Shanghai
TODAY = date(2026, 11, 22)


def _member(member_id: str, phone_hash: str | None = None, unionid: str | None = None) -> str:
    """A member created an hour ago; with a phone but no phone alias (so two may share one:
    a recycled number on an imported account)."""
    member = Member(member_id, "2026-11-22T03:00:00.000000Z", phone_hash=phone_hash, unionid=unionid)
    member.phone_masked = "138****0000" if phone_hash else None
    tx = UnitOfWork(get_settings().region)
    members_repo.stage_new_member(tx, member, [f"mini:{member_id}"], phone_enc="enc" if phone_hash else None)
    tx.commit()
    return member_id


def _bound(invitee_id: str, referrer_id: str, **fields: Any) -> Referral:
    referral = Referral(invitee_id, referrer_id, "CODE", "login", iso(NOW))
    assert referrals_repo.bind(referral)
    return referral


def _entries(member_id: str) -> list[Any]:
    from chalicelib.store import points_repo

    return [e for e in points_repo.iter_member_entries(member_id) if e.kind == kinds.REFERRAL]


def _status(member_id: str) -> tuple[str, str | None]:
    record = referrals_repo.get(member_id)
    assert record is not None
    return record.status.value, record.reason.value if record.reason else None


def test_eight_concurrent_rewards_of_one_invitee_pay_once(tables: None) -> None:
    referrer, invitee = _member("m_r8"), _member("m_i8", phone_hash="h8", unionid="u8")
    referral = _bound(invitee, referrer)
    rules = programme.current()

    outcomes = race([lambda: referrals.advance(referral, rules, NOW, TODAY) for _ in range(THREADS)])

    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert [(e.delta, e.detail["role"]) for e in _entries(invitee)] == [(50, "invitee")]
    assert [(e.delta, e.detail["role"]) for e in _entries(referrer)] == [(50, "referrer")]
    assert _status(invitee) == ("rewarded", None)
    count = counters_repo.read(month_counter(referrer, TODAY), NOW.timestamp())
    assert count is not None and count.total == 1
    assert referrals_repo.claimed(person_claims(members_repo.get_member(invitee))) == set(
        person_claims(members_repo.get_member(invitee))
    )
    assert list(reconcile([referrer, invitee])) == []


def test_a_replayed_reward_from_a_stale_read_changes_nothing(tables: None) -> None:
    referrer, invitee = _member("m_rr"), _member("m_ir", phone_hash="hr")
    stale = _bound(invitee, referrer)
    rules = programme.current()
    referrals.advance(stale, rules, NOW, TODAY)

    for _ in range(3):
        referrals.advance(stale, rules, NOW, TODAY)  # still reads "bound": the plan reads it afresh
        referrals.phone_bound(invitee, NOW)

    assert len(_entries(invitee)) == 1 and len(_entries(referrer)) == 1
    assert members_repo.get_member(referrer).balance == 50
    assert list(reconcile([referrer, invitee])) == []


def test_the_daily_job_racing_a_phone_binding_pays_once(tables: None) -> None:
    publish_with("referral", {"reward_on": "first_order_settled"})
    referrer, invitee = _member("m_rj"), _member("m_ij", phone_hash="hj")
    _bound(invitee, referrer)
    assert referrals_repo.mark_due(invitee, "o-1", date(2026, 11, 20))
    from chalicelib.services import orders

    orders.record_order("o-1", orders.MemberRef(member_id=invitee), 10_000, NOW, None, NOW, pos_client="pos-1")
    rules = programme.current()

    calls = [lambda: referrals.settle_due(invitee, TODAY, NOW, rules) for _ in range(THREADS // 2)]
    calls += [lambda: referrals.phone_bound(invitee, NOW) for _ in range(THREADS // 2)]
    outcomes = race(calls)

    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert _status(invitee) == ("rewarded", None)
    assert len(_entries(invitee)) == 1 and len(_entries(referrer)) == 1
    assert list(reconcile([referrer, invitee])) == []


def test_a_referrer_near_the_cap_is_paid_exactly_up_to_it_by_concurrent_invitees(tables: None) -> None:
    publish_with("referral", {"per_referrer_month": 3})
    referrer = _member("m_rc")
    invitees = [_member(f"m_ic{n}", phone_hash=f"hc{n}") for n in range(THREADS)]
    records = [_bound(invitee, referrer) for invitee in invitees]
    rules = programme.current()

    outcomes = race([lambda r=r: referrals.advance(r, rules, NOW, TODAY) for r in records])

    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    statuses = Counter(_status(invitee) for invitee in invitees)
    assert statuses == {("rewarded", None): 3, ("refused", "cap_reached"): THREADS - 3}
    assert members_repo.get_member(referrer).balance == 150
    assert sum(members_repo.get_member(i).balance for i in invitees) == 150
    assert list(reconcile([referrer, *invitees])) == []


def test_two_accounts_of_one_phone_racing_are_paid_as_one_person(tables: None) -> None:
    """Two referrers, so nothing but the person claim stands between the two rewards."""
    referrers = [_member("m_rp1"), _member("m_rp2")]
    first, second = _member("m_ip1", phone_hash="hp", unionid="up1"), _member("m_ip2", phone_hash="hp", unionid="up2")
    records = [_bound(first, referrers[0]), _bound(second, referrers[1])]
    rules = programme.current()

    outcomes = race([lambda r=r: referrals.advance(r, rules, NOW, TODAY) for r in records * (THREADS // 2)])

    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert sorted([_status(first), _status(second)]) == [("refused", "already_invited"), ("rewarded", None)]
    assert sum(members_repo.get_member(r).balance for r in referrers) == 50
    assert list(reconcile([*referrers, first, second])) == []


def test_racing_logins_with_different_codes_bind_the_new_member_once(tables: None) -> None:
    referrers = [_member(f"m_rl{n}") for n in range(THREADS)]
    codes = [member_codes.code_of(r, NOW) for r in referrers]
    invitee = _member("m_il")

    outcomes = race([lambda c=c: referrals.arrived(invitee, c, NOW, created=False) for c in codes])

    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    record = referrals_repo.get(invitee)
    assert record is not None and record.status == ReferralStatus.BOUND and record.referrer_id in referrers
    assert record.code == codes[referrers.index(record.referrer_id)]


def test_a_reward_the_store_refuses_at_phone_binding_is_left_to_the_job_and_paid_once(
    tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The phone binding stands; the referral goes into the due index and the job pays it."""
    from chalicelib.jobs.runner import run_job

    referrer, invitee = _member("m_rf"), _member("m_if", phone_hash="hf")
    _bound(invitee, referrer)

    def reward_conflicts(operation: str, kwargs: dict[str, Any]) -> Exception | None:
        table = referrals_repo.ReferralModel.Meta.table_name
        touches = operation == "TransactWriteItems" and f"'{table}'" in str(kwargs)
        return transaction_conflict(len(kwargs["TransactItems"])) if touches else None

    monkeypatch.setattr("chalicelib.services.points.backoff", lambda attempt: None)
    with inject(monkeypatch, reward_conflicts):  # type: ignore[arg-type]
        referrals.phone_bound(invitee, NOW)  # raises nothing
    assert _status(invitee) == ("bound", None) and not _entries(invitee)

    run_job("referral-rewards", NOW)
    run_job("referral-rewards", NOW)
    assert _status(invitee) == ("rewarded", None) and len(_entries(referrer)) == 1
    record = referrals_repo.ReferralModel.get(invitee)
    assert record.due_shard is None  # off the index once paid
    assert list(reconcile([referrer, invitee])) == []
