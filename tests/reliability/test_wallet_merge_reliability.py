"""Stored value through a merge (会员合并) under concurrency and faults: a merge racing a top-up's
credit, a refund request, a refund WeChat Pay closes, a top-up being written, and its own retries;
a store fault in the middle of the move. Each time the money ends in the live member's wallet
exactly once — nothing lost on the merged wallet, nothing credited twice — and both wallets
reconcile."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from chalicelib import clock
from chalicelib.services import identity
from chalicelib.services.wallet import reconcile_wallet
from chalicelib.store import topups_repo, wallet_repo
from chalicelib.store.models import WalletModel
from tests.support.api import Api, dumps, member_headers
from tests.support.faults import inject, unreachable
from tests.support.race import race, retrying
from tests.support.wallet import FakePay, paid_topup, topup

pytest_plugins = ["tests.support.wechatpay"]  # the fake WeChat Pay's fixtures: pay, pay_server

ROUNDS = 3


def merge(survivor: str, merged: str) -> Any:
    now = clock.utc_now()
    return retrying(
        lambda: identity.merge_members(survivor, merged, trigger="admin", now=now, operator="alice", approved_by="bob")
    )


def held(member_id: str) -> tuple[int, int, int]:
    found = wallet_repo.get_wallet(member_id)
    return found.principal, found.bonus, found.pending_fen


def clean(*member_ids: str) -> None:
    assert [reconcile_wallet(m) for m in member_ids] == [None] * len(member_ids)


def notification(pay: FakePay, topup_id: str) -> tuple[bytes, dict[str, str]]:
    resource = {k: v for k, v in pay.state.orders[topup_id].items() if not k.startswith("_")}
    body, _ = pay.notification("TRANSACTION.SUCCESS", resource)
    return body, pay.headers(body)


def refund_request(api: Api, token: str, topup_id: str, cash_fen: int) -> Any:
    headers = member_headers(token, **{"Idempotency-Key": "r-1"})
    return api.http.post(f"/v1/wallet/topups/{topup_id}/refunds", body=dumps({"cash_fen": cash_fen}), headers=headers)


@contextmanager
def before_first(monkeypatch: pytest.MonkeyPatch, name: str, member_id: str, action: Any) -> Iterator[list[int]]:
    """Runs `action` once, just before the first `wallet_repo.<name>` naming `member_id` that
    is not the action's own: the worst interleaving, forced."""
    original = getattr(wallet_repo, name)
    fired: list[int] = []

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        names = args[0] if isinstance(args[0], str) else getattr(args[1], "member_id", None)
        if not fired and names == member_id:
            fired.append(1)
            action()
        return original(*args, **kwargs)

    monkeypatch.setattr(wallet_repo, name, wrapped)
    yield fired


@pytest.mark.parametrize("n", range(ROUNDS))
def test_a_merge_racing_the_top_ups_credit_leaves_it_credited_once_on_the_survivor(
    api: Api, pay: FakePay, n: int
) -> None:
    _, a = api.login(f"rc-a{n}")
    token_b, b = api.login(f"rc-b{n}")
    topup_id = topup(api, token_b, 50_000).json_body["topup_id"]
    pay.state.pay(topup_id, notify=False)
    body, headers = notification(pay, topup_id)

    answers = race([lambda: merge(a, b), lambda: pay.post(body, headers).status_code])

    assert answers[1] == 204, answers
    assert held(a) == (50_000, 5_000, 0) and held(b) == (0, 0, 0), n
    assert sum(1 for e in wallet_repo.iter_entries(a) if e.kind == "topup") in (0, 2)  # credited here or moved
    clean(a, b)


def test_a_credit_planned_on_the_merged_wallet_and_committed_after_the_move_lands_on_the_survivor(
    api: Api, pay: FakePay, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, a = api.login("rc-a")
    token_b, b = api.login("rc-b")
    topup_id = topup(api, token_b, 50_000).json_body["topup_id"]
    pay.state.pay(topup_id, notify=False)
    body, headers = notification(pay, topup_id)

    with before_first(monkeypatch, "stage_change", b, lambda: merge(a, b)) as fired:  # planned, then the merge
        assert pay.post(body, headers).status_code == 204

    assert fired and topups_repo.get_topup(topup_id).member_id == a  # type: ignore[union-attr]
    assert held(a) == (50_000, 5_000, 0) and held(b) == (0, 0, 0)
    clean(a, b)


def test_a_top_up_written_while_the_merge_moves_the_wallet_is_reserved_on_the_survivor(
    api: Api, pay: FakePay, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The member resolved before the merge, the wallet read after it: the create finds the
    member merged and writes the top-up on the survivor's wallet."""
    _, a = api.login("rc-a")
    token_b, b = api.login("rc-b")
    paid_topup(api, pay, token_b, 10_000, key="before")

    with before_first(monkeypatch, "get_wallet", b, lambda: merge(a, b)) as fired:
        created = topup(api, token_b, 20_000, key="during")

    assert fired and created.status_code == 201, created.body
    assert topups_repo.get_topup(created.json_body["topup_id"]).member_id == a  # type: ignore[union-attr]
    assert held(a) == (10_000, 0, 20_000) and held(b) == (0, 0, 0)
    pay.pay(created.json_body["topup_id"])
    assert held(a) == (30_000, 0, 0)
    clean(a, b)


@pytest.mark.parametrize("n", range(ROUNDS))
def test_a_merge_racing_the_merged_members_refund_loses_nothing(api: Api, pay: FakePay, n: int) -> None:
    _, a = api.login(f"rr-a{n}")
    token_b, b = api.login(f"rr-b{n}")
    topup_id = paid_topup(api, pay, token_b, 50_000)

    answers = race([lambda: merge(a, b), lambda: refund_request(api, token_b, topup_id, 50_000)])
    pay.state.deliveries.wait()

    refunded = sum(r.principal_fen for r in topups_repo.refunds_of_member(a) + topups_repo.refunds_of_member(b))
    status = answers[1].status_code
    assert status in (201, 409), answers[1].body  # 409: the quote moved with the wallet; ask again
    assert refunded == (50_000 if status == 201 else 0)
    assert held(a)[0] + refunded == 50_000 and held(b) == (0, 0, 0), n
    clean(a, b)


@pytest.mark.parametrize("n", range(ROUNDS))
def test_a_refund_closed_while_the_merge_runs_gives_back_to_the_survivor_once(api: Api, pay: FakePay, n: int) -> None:
    _, a = api.login(f"rx-a{n}")
    token_b, b = api.login(f"rx-b{n}")
    topup_id = paid_topup(api, pay, token_b, 50_000)
    pay.state.refund_outcome = None
    refund_id = refund_request(api, token_b, topup_id, 50_000).json_body["refund_id"]

    race([lambda: merge(a, b), lambda: pay.state.finish_refund(refund_id, "CLOSED")])
    pay.state.deliveries.wait()

    assert topups_repo.get_refund(refund_id).status == "closed"  # type: ignore[union-attr]
    assert held(a) == (50_000, 5_000, 0) and held(b) == (0, 0, 0), n
    clean(a, b)


def test_four_runs_of_the_same_merge_at_once_move_the_wallet_once(api: Api, pay: FakePay) -> None:
    _, a = api.login("rm-a")
    token_b, b = api.login("rm-b")
    paid_topup(api, pay, token_b, 50_000)
    topup(api, token_b, 10_000, key="pending")

    outcomes = race([lambda: merge(a, b) for _ in range(4)])

    assert all(not isinstance(o, Exception) for o in outcomes), outcomes
    assert held(a) == (50_000, 5_000, 10_000) and held(b) == (0, 0, 0)
    assert [e.kind for e in wallet_repo.iter_entries(a)] == ["merge_in", "merge_in"]
    clean(a, b)


def _failing_moves(outage: list[int]) -> Any:
    """Fails every transaction writing a wallet while `outage` holds a count, one count each."""
    wallets = WalletModel.Meta.table_name

    def rule(operation: str, kwargs: dict[str, Any]) -> Exception | None:
        items = kwargs.get("TransactItems", []) if operation == "TransactWriteItems" else []
        if outage and any(next(iter(item.values())).get("TableName") == wallets for item in items):
            outage[0] -= 1
            if outage[0] == 0:
                outage.clear()
            return unreachable(EndpointConnectionError)
        return None

    return rule


def test_a_store_fault_in_the_move_is_retried_and_the_wallet_moves_once(
    api: Api, pay: FakePay, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, a = api.login("rf-a")
    token_b, b = api.login("rf-b")
    paid_topup(api, pay, token_b, 50_000)
    outage = [1]

    with inject(monkeypatch, _failing_moves(outage)):
        record = merge(a, b)

    assert outage == [] and record.status == "done"
    assert held(a) == (50_000, 5_000, 0) and held(b) == (0, 0, 0)
    assert [e.kind for e in wallet_repo.iter_entries(a)] == ["merge_in", "merge_in"]
    clean(a, b)


def test_an_outage_through_the_move_leaves_the_merge_started_and_a_re_run_moves_once(
    api: Api, pay: FakePay, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.domain.errors import Busy
    from chalicelib.services import wallet_merge
    from chalicelib.store import merge_repo

    _, a = api.login("rf-a")
    token_b, b = api.login("rf-b")
    paid_topup(api, pay, token_b, 50_000)
    monkeypatch.setattr(wallet_merge, "backoff", lambda *_: None)
    now = clock.utc_now()

    with inject(monkeypatch, _failing_moves([10**6])), pytest.raises(Busy):
        identity.merge_members(a, b, trigger="admin", now=now, operator="alice", approved_by="bob")
    assert merge_repo.get(b).status == "started"  # type: ignore[union-attr]
    assert held(b) == (50_000, 5_000, 0) and held(a) == (0, 0, 0)  # nothing moved, nothing half-moved

    record = merge(a, b)  # the approval again, or task.merge_members

    assert record.status == "done"
    assert held(a) == (50_000, 5_000, 0) and held(b) == (0, 0, 0)
    clean(a, b)


def test_a_wallet_move_planned_on_a_stale_read_commits_nothing(api: Api, pay: FakePay) -> None:
    """The version guard: a move staged from a read another change has since overtaken is refused whole."""
    from chalicelib.services import wallet_merge
    from chalicelib.store.tx import TransactionFailed

    _, a = api.login("rs-a")
    token_b, b = api.login("rs-b")
    paid_topup(api, pay, token_b, 10_000)
    stale_b, stale_a = wallet_repo.get_wallet(b), wallet_repo.get_wallet(a)
    paid_topup(api, pay, token_b, 20_000, key="later")  # b's wallet moves on

    tx, _ = wallet_merge._stage_move(stale_b, stale_a, [], clock.utc_now())
    with pytest.raises(TransactionFailed) as refused:
        tx.commit()

    assert refused.value.failed("m:wallet")
    assert held(b) == (30_000, 0, 0) and held(a) == (0, 0, 0)
