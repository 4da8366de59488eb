"""Redemption (核销) and return under concurrency, against the embedded moto server: of staff
redeeming one coupon at once exactly one wins and every other hears who, when and where (409,
never a 500 or a 503); a retried request racing itself is one use; checkout racing the counter
is one use; a return racing itself gives the coupon back once."""

from __future__ import annotations

from collections import Counter
from typing import Any

from chalicelib.clock import utc_now
from chalicelib.domain.coupon_use import CouponAlreadyUsed, ReturnPolicy
from chalicelib.domain.coupons import Channel, Coupon
from chalicelib.domain.members import Member
from chalicelib.services import coupon_redemption, coupon_templates, coupons
from chalicelib.services.coupon_redemption import Redemption, Returned
from chalicelib.settings import get_settings
from chalicelib.store import coupons_repo, members_repo
from chalicelib.store.models import OutboxModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork
from tests.support.race import race

THREADS = 8


def _coupon(member_id: str = "m_race") -> Coupon:
    members_repo.create_member(Member(member_id, "2026-01-01T00:00:00Z"), [f"mini:{member_id}"])
    data = {
        "name": "无门槛10元",
        "benefit": {"kind": "no_threshold", "amount_off_fen": 1000},
        "validity": {"kind": "days_after_claim", "days": 7},
        "stock": 10,
    }
    template_id = coupon_templates.create("alice", data, None, f"t-{member_id}", utc_now()).template.template_id
    return coupons.grant(template_id, member_id, "g1", utc_now(), source="test")


def _kinds(results: list[Any]) -> Counter[str]:
    return Counter(type(result).__name__ for result in results)


def _events(kind: str) -> list[OutboxModel]:
    return [item for item in OutboxModel.scan() if item.kind == kind]


def test_eight_staff_redeeming_one_coupon_at_once_one_wins_and_the_rest_hear_who(tables: None) -> None:
    coupon, now = _coupon(), utc_now()

    results = race(
        [
            lambda n=n: coupon_redemption.redeem_in_store(coupon.code, f"S{n}", f"staff{n}", None, now)
            for n in range(THREADS)
        ]
    )

    assert _kinds(results) == Counter({"Redemption": 1, "CouponAlreadyUsed": THREADS - 1}), results
    (won,) = [result for result in results if isinstance(result, Redemption)]
    for lost in results:
        if isinstance(lost, CouponAlreadyUsed):
            assert (lost.used_by, lost.used_store, lost.used_at) == (
                won.coupon.used_by,
                won.coupon.used_store,
                won.coupon.used_at,
            )
    stored = coupons_repo.get(coupon.member_id, coupon.coupon_id)
    assert stored is not None and (stored.used_by, stored.used_store) == (won.coupon.used_by, won.coupon.used_store)
    assert len(_events("coupon.used")) == 1


def test_one_redemption_retried_eight_times_at_once_is_one_use(tables: None) -> None:
    coupon, now = _coupon(), utc_now()

    results = race([lambda: coupon_redemption.redeem_in_store(coupon.code, "S1", "zhangsan", "scan-1", now)] * THREADS)

    assert _kinds(results) == Counter({"Redemption": THREADS}), results
    assert sum(not result.replayed for result in results) == 1
    assert len({result.coupon.used_at for result in results}) == 1
    assert len(_events("coupon.used")) == 1


def test_checkout_racing_the_counter_is_one_use(tables: None) -> None:
    coupon, now = _coupon(), utc_now()

    def checkout(n: int) -> str:
        tx = UnitOfWork(get_settings().region)
        tag = coupon_redemption.stage_use(tx, coupon, f"O-{n}", "S1", Channel.IN_STORE, now, used_by="pos:pos-1")
        try:
            tx.commit()
        except TransactionFailed as failure:
            if failure.failed(tag):
                raise coupon_redemption.refusal(coupon, Channel.IN_STORE, "S1", now) from failure
            raise
        return "checkout"

    calls = [lambda n=n: checkout(n) for n in range(THREADS // 2)]
    calls += [
        lambda n=n: coupon_redemption.redeem_in_store(coupon.code, "S1", f"staff{n}", None, now) for n in range(4)
    ]
    results = race(calls)

    winners = [result for result in results if not isinstance(result, Exception)]
    assert len(winners) == 1, results
    assert _kinds(results)["CouponAlreadyUsed"] == THREADS - 1, results


def test_a_return_racing_itself_gives_the_coupon_back_once(tables: None) -> None:
    coupon, now = _coupon(), utc_now()
    coupon_redemption.redeem_at_pos(coupon.code, "S1", "O-1", "pos-1", now)

    results = race(
        [
            lambda: coupon_redemption.return_for_order(
                coupon.member_id, coupon.coupon_id, "O-1", now, ReturnPolicy.WHILE_VALID
            )
        ]
        * THREADS
    )

    assert all(isinstance(result, Returned) and result.returned for result in results), results
    assert sum(not result.replayed for result in results) == 1
    assert len(_events("coupon.returned")) == 1
    stored = coupons_repo.get(coupon.member_id, coupon.coupon_id)
    assert stored is not None and stored.status.value == "returned"


def test_a_returned_coupon_is_used_again_once(tables: None) -> None:
    coupon, now = _coupon(), utc_now()
    coupon_redemption.redeem_at_pos(coupon.code, "S1", "O-1", "pos-1", now)
    coupon_redemption.return_for_order(coupon.member_id, coupon.coupon_id, "O-1", now, ReturnPolicy.ALWAYS)

    results = race(
        [
            lambda n=n: coupon_redemption.redeem_at_pos(coupon.code, "S1", f"O-{n + 2}", "pos-1", now)
            for n in range(THREADS)
        ]
    )

    assert _kinds(results) == Counter({"Redemption": 1, "CouponAlreadyUsed": THREADS - 1}), results
