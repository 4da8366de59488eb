"""Privacy requests (个人信息保护法): consents a member can see and withdraw, an export of
everything held about them, and closing the account (注销) so that nothing personal is left."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from chalicelib import clock
from chalicelib.jobs import campaigns as campaigns_job
from chalicelib.security.phone import phone_hash
from chalicelib.services import member_card, privacy_export
from chalicelib.services.reconcile import reconcile
from chalicelib.settings import get_settings
from chalicelib.store import members_repo, merge_repo, points_repo
from chalicelib.store.models import ALL_MODELS, MemberModel
from tests.support.api import Api, dumps, member_headers, operator_headers, pos_headers
from tests.support.notify import drain_into_worker, reset_fake_wechat, sent_messages
from tests.support.programme import publish_with
from tests.support.wallet import FakePay, enable_wallet, paid_topup
from tests.support.wechat import XML_HEADERS, contact_change, mp_event, mp_safe, work_post
from tests.support.worker import run_worker

pytest_plugins = ["tests.support.wechatpay"]  # the fake WeChat Pay's fixtures: pay, pay_server

CAMPAIGN_NOW = datetime(2026, 12, 15, 2, 0, tzinfo=UTC)  # member day, 10:00 in Shanghai


@dataclass(frozen=True)
class Seeded:
    token: str
    member_id: str
    follower_id: str  # the official-account follower merged into the member (会员合并)
    phone: str
    secrets: tuple[str, ...]  # every personal value a table could hold


def _short(model: Any) -> str:
    return str(model.Meta.table_name).removeprefix(get_settings().table_prefix)


def _mp(api: Api, plain: str) -> None:
    path, body = mp_safe(plain)
    assert api.http.post(path, body=body, headers=XML_HEADERS).status_code == 200


def seed_member(api: Api, name: str, phone: str) -> Seeded:
    """A member with data in every table that can hold a member's: profile and phone, an
    official-account follower merged in, a card, a WeChat Work contact, consents, orders, a
    refund, a redemption, a pending adjustment, notifications sent, audited requests."""
    token, member_id = api.login(name)
    headers = member_headers(token)
    assert api.http.post("/v1/me/phone", body=dumps({"code": f"phone:{phone}"}), headers=headers).status_code == 200
    profile = {"nickname": f"昵称{name}", "birthday": "1990-05-06", "gender": "female"}
    assert api.http.patch("/v1/me", body=dumps(profile), headers=headers).status_code == 200
    _mp(api, mp_event(f"mp_{name}", "subscribe"))  # a separate member until the worker learns its unionid
    follower_id = members_repo.find_member_ids([f"mp:mp_{name}"])[f"mp:mp_{name}"]
    card = {"CardId": "p_card", "UserCardCode": f"CARD{name}", "UnionId": f"u_{name}"}
    _mp(api, mp_event(f"mp_{name}", "user_get_card", **card))
    path, body = work_post(contact_change("add_external_contact", f"wm_{name}"))
    assert api.http.post(path, body=body, headers=XML_HEADERS).status_code == 200
    results = {"results": {"tmpl_points_change": "accept", "tmpl_member_day": "accept"}}
    subscribe = member_headers(token, **{"Idempotency-Key": f"sub-{name}"})
    assert api.http.post("/v1/me/subscriptions", body=dumps(results), headers=subscribe).status_code == 200
    assert api.order(f"{name}-O1", {"openid": f"o_{name}"}, 12_000).status_code == 200
    assert api.order(f"{name}-O2", {"member_id": member_id}, 5_000).status_code == 200
    assert api.refund(f"{name}-O1", {"refund_id": "r1", "amount_fen": 2_000}).status_code == 200
    assert api.redeem(token, 30, f"{name}-spend").status_code == 201
    assert api.http.post("/v1/me/checkins", body=b"{}", headers=headers).status_code == 201  # 签到
    assert api.adjust(member_id, 5_000, f"{name}-big").json_body["status"] == "pending"
    _patch_consents(api, token, False)
    _patch_consents(api, token, True)
    run_worker()  # the follower's unionid merges it in; the contact links; notifications go out
    _mp(api, mp_event(f"mp_{name}", "user_consume_card", **card))  # an outbox event carrying the card code
    item = MemberModel.get(member_id)
    assert members_repo.get_member(follower_id).merged_into == member_id, "the follower was merged in"
    assert item.phone_enc and item.work_external_userid == f"wm_{name}" and item.mp_openid == f"mp_{name}"
    values = (phone, phone_hash(phone), item.phone_enc, f"昵称{name}", f"o_{name}", f"u_{name}", f"mp_{name}")
    return Seeded(token, member_id, follower_id, phone, (*values, f"wm_{name}", f"CARD{name}"))


def _patch_consents(api: Api, token: str, marketing: bool) -> Any:
    return api.http.patch("/v1/me/consents", body=dumps({"marketing": marketing}), headers=member_headers(token))


def _scan_all() -> dict[str, list[dict[str, Any]]]:
    """Every item of every table (the outbox included), as DynamoDB holds it."""
    client = boto3.client("dynamodb", region_name=get_settings().region)
    found: dict[str, list[dict[str, Any]]] = {}
    for model in ALL_MODELS:
        pages = client.get_paginator("scan").paginate(TableName=model.Meta.table_name)
        found[_short(model)] = [item for page in pages for item in page["Items"]]
    return found


def _audit(api: Api, member_id: str) -> list[dict[str, Any]]:
    response = api.http.get(f"/admin/audit?target=member:{member_id}", headers=operator_headers("erin"))
    assert response.status_code == 200, response.body
    items: list[dict[str, Any]] = response.json_body["items"]
    return items


# --- consents --------------------------------------------------------------------------------------


def test_member_sees_marketing_granted_by_default_and_withdraws_and_grants_it_again(api: Api) -> None:
    token, member_id = api.login("consenter")
    shown = api.http.get("/v1/me/consents", headers=member_headers(token)).json_body
    assert shown == {"marketing": {"granted": True, "changed_at": None}, "subscribe_messages": {}}

    withdrawn = _patch_consents(api, token, False)
    assert withdrawn.status_code == 200 and withdrawn.json_body["marketing"]["granted"] is False
    assert api.http.get("/v1/me/consents", headers=member_headers(token)).json_body["marketing"]["granted"] is False
    assert _patch_consents(api, token, True).json_body["marketing"]["granted"] is True

    entries = _audit(api, member_id)
    assert [(e["operator"], e["role"], e["action"]) for e in entries] == [
        (member_id, "member", "PATCH /v1/me/consents"),
        (member_id, "member", "PATCH /v1/me/consents"),
    ]
    assert entries[-1]["before"] == {"marketing": True} and entries[-1]["after"] == {"marketing": False}


def test_setting_the_same_consent_again_writes_nothing(api: Api) -> None:
    token, member_id = api.login("steady")
    _patch_consents(api, token, False)
    _patch_consents(api, token, False)
    assert len(_audit(api, member_id)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"marketing": "no"}, "marketing"),
        ({"marketing": 0}, "marketing"),
        ({"marketing": True, "x": 1}, "x"),
        ({}, "marketing"),
    ],
)
def test_bad_consent_patch_is_400_naming_the_field(api: Api, body: dict[str, Any], field: str) -> None:
    token, _ = api.login("typo")
    response = api.http.patch("/v1/me/consents", body=dumps(body), headers=member_headers(token))
    assert response.status_code == 400
    assert response.json_body["error"]["fields"][0]["field"] == field


def test_withdrawn_consent_or_a_closed_account_stops_a_campaign_message_already_queued(
    api: Api, fake_wechat: str
) -> None:
    wechat = reset_fake_wechat(fake_wechat)
    members = {name: api.login(name) for name in ("keen", "shy", "leaving")}
    for name, (_, member_id) in members.items():
        MemberModel(member_id).update(
            actions=[MemberModel.mp_openid.set(f"mp_{name}"), MemberModel.mp_followed.set(True)]
        )
    body = dumps(
        {"name": "会员日", "template": "campaign.member_day", "audience": {}, "send_at": "2026-12-15T10:00:00+08:00"}
    )
    created = api.http.post("/admin/campaigns", body=body, headers={**operator_headers(), "Idempotency-Key": "md"})
    campaign_id = created.json_body["campaign_id"]
    assert campaigns_job.run(CAMPAIGN_NOW)["queued"] == 3

    assert _patch_consents(api, members["shy"][0], False).status_code == 200  # after queueing, before sending
    assert api.http.post("/v1/me/deletion", headers=member_headers(members["leaving"][0])).status_code == 200
    assert drain_into_worker() == []

    assert [s["body"]["touser"] for s in sent_messages(wechat, "mp_template")] == ["mp_keen"]
    counts = api.http.get(f"/admin/campaigns/{campaign_id}", headers=operator_headers()).json_body
    assert (counts["queued"], counts["sent"], counts["skipped"]) == (3, 1, 2)


# --- export ----------------------------------------------------------------------------------------


def test_every_table_is_either_exported_or_said_to_hold_no_member_data() -> None:
    tables = {_short(model) for model in ALL_MODELS}
    assert set(privacy_export.SECTIONS).isdisjoint(privacy_export.NOT_MEMBER_DATA)
    assert set(privacy_export.SECTIONS) | set(privacy_export.NOT_MEMBER_DATA) == tables


# How an item of a table names the member, and the value the export must show for it.
NAMES_MEMBER = {
    "members": (("member_id",), "member_id"),
    "identities": (("member_id",), "alias"),
    "points-ledger": (("member_id",), "entry_id"),
    "points-lots": (("member_id",), "expires_on"),
    "approvals": (("member_id", "survivor_id"), "approval_id"),
    "merges": (("merge_id", "survivor_id"), "merge_id"),
    "deliveries": (("member_id",), "delivery_id"),
    "consents": (("member_id",), "template_id"),
    "audit": (("target",), "at"),
    "checkins": (("member_id",), "day"),
    "points-pending": (("member_id",), "release_on"),
    "referrals": (("invitee_id", "referrer_id"), "bound_at"),
    "coupons": (("member_id",), "coupon_id"),
    "wallets": (("member_id",), "member_id"),
    "wallet-ledger": (("member_id",), "ref"),
    "wallet-topups": (("member_id",), "topup_id"),
    "wallet-refunds": (("member_id",), "refund_id"),
    "mall-redemptions": (("member_id",), "redemption_id"),
    "member-cards": (("member_id",), "code"),
    "checkouts": (("member_id",), "order_id"),
}


def test_export_has_every_item_that_names_the_member_in_its_section(api: Api, fake_wechat: str, pay: FakePay) -> None:
    reset_fake_wechat(fake_wechat)
    seeded = seed_member(api, "exa", "13800001234")
    publish_with("points", {"pending_days": 7})  # an order still in its return window (冻结期)
    assert api.order("exa-O3", {"member_id": seeded.member_id}, 3_000).json_body["points_pending"] == 30
    code = api.http.get("/v1/me/referrals", headers=member_headers(seeded.token)).json_body["code"]
    invite = dumps({"code": "demo:exa-friend", "invite_code": code})
    assert api.http.post("/v1/auth/login", body=invite, headers={"Content-Type": "application/json"}).status_code == 200
    offer = {"name": "满200减30", "stock": 10, "validity": {"kind": "days_after_claim", "days": 7},
             "benefit": {"kind": "amount_off", "threshold_fen": 20000, "amount_off_fen": 3000}}  # fmt: skip
    made = api.http.post(
        "/admin/coupon-templates", body=dumps(offer), headers={**operator_headers(), "Idempotency-Key": "t"}
    )
    claim = member_headers(seeded.token, **{"Idempotency-Key": "c"})
    assert (
        api.http.post(f"/v1/coupons/{made.json_body['template_id']}/claims", body=b"", headers=claim).status_code == 201
    )
    enable_wallet()
    topup_id = paid_topup(api, pay, seeded.token, 50_000)
    refund = dumps({"cash_fen": 50_000})
    refunding = member_headers(seeded.token, **{"Idempotency-Key": "r"})
    assert api.http.post(f"/v1/wallet/topups/{topup_id}/refunds", body=refund, headers=refunding).status_code == 201
    pay.state.deliveries.wait()
    gift = {"name": "保温杯", "item": {"kind": "physical", "stock": 10}, "points": 10}
    made = api.http.post(
        "/admin/mall/rewards", body=dumps(gift), headers={**operator_headers(), "Idempotency-Key": "m"}
    )
    address = {"name": "张三", "phone": "13812345678", "region": "广东省 深圳市", "detail": "科技园路1号"}
    order = dumps({"reward_id": made.json_body["reward_id"], "address": address})
    redeeming = member_headers(seeded.token, **{"Idempotency-Key": "m"})
    assert api.http.post("/v1/mall/redemptions", body=order, headers=redeeming).status_code == 201
    fund_checkout = dumps({"order_id": "exa-CO", "member": {"member_id": seeded.member_id}, "amount_fen": 1_000,
                           "lines": [{"line_id": "l1", "sku": "cake", "amount_fen": 1_000}], "points": 10})  # fmt: skip
    checked = api.http.post("/v1/checkout/confirm", body=fund_checkout,
                            headers=pos_headers("POST", "/v1/checkout/confirm", fund_checkout))  # fmt: skip
    assert checked.status_code == 201, checked.body
    member_card.linked(seeded.member_id, "card-exa-1", "pCard", "privacy-seed", clock.utc_now())
    ids = {seeded.member_id, seeded.follower_id} | {f"member:{seeded.member_id}", f"member:{seeded.follower_id}"}
    held = _scan_all()

    response = api.http.get("/v1/me/export", headers=member_headers(seeded.token))

    assert response.status_code == 200, response.body
    export = response.json_body
    assert set(NAMES_MEMBER) == set(privacy_export.SECTIONS)
    for table, section in privacy_export.SECTIONS.items():
        names, key = NAMES_MEMBER[table]
        mine = [item for item in held[table] if any(item.get(name, {}).get("S") in ids for name in names)]
        assert mine, f"the seed left nothing in {table}: the test would prove nothing"
        shown = json.dumps([export[section], export["merged_accounts"]], ensure_ascii=False)
        for item in mine:
            value = next(iter(item[key].values()))
            assert json.dumps(value, ensure_ascii=False) in shown, f"{table} item {value} missing from {section}"
    assert export["profile"]["phone"] == "13800001234", "the member's own phone, in full"
    assert export["profile"]["nickname"] == "昵称exa" and export["points"]["balance"] == sum(
        lot["remaining"] for lot in export["lots"]
    )
    assert {o["order_id"] for o in export["orders"]} == {"exa-O1", "exa-O2", "exa-O3"}
    assert [(p["order_id"], p["points"]) for p in export["pending"]] == [("exa-O3", 30)]
    assert [(r["role"], r["status"]) for r in export["referrals"]] == [("referrer", "bound")]
    assert [c["status"] for c in export["coupons"]] == ["unused"]
    assert [(t["topup_id"], t["amount_fen"]) for t in export["topups"]] == [(topup_id, 50_000)]
    assert export["wallet"][0]["principal_fen"] == 0 and len(export["wallet_ledger"]) >= 4
    assert [r["address"]["phone"] for r in export["mall_redemptions"]] == ["13812345678"]  # the member's own
    assert export["consents"]["subscribe_messages"]["tmpl_member_day"] == 1


def test_operator_export_is_an_audited_read_and_auditors_may_not_run_it(api: Api) -> None:
    token, member_id = api.login("asker")
    path = f"/admin/members/{member_id}/export"

    assert api.http.get(path, headers=operator_headers("erin")).status_code == 403
    assert api.http.get(path, headers=member_headers(token)).status_code == 403
    assert api.http.get(path, headers={"Content-Type": "application/json"}).status_code == 401
    exported = api.http.get(path, headers=operator_headers("alice"))
    assert exported.status_code == 200 and exported.json_body["member_id"] == member_id
    assert api.http.get("/v1/me/export", headers=member_headers(token)).status_code == 200

    entries = _audit(api, member_id)
    assert [(e["operator"], e["role"], e["action"]) for e in entries] == [
        (member_id, "member", "GET /v1/me/export"),
        ("alice", "operator", "GET /admin/members/{member_id}/export"),
    ]
    assert entries[1]["after"]["export"]["ledger"] == 0
    assert api.http.get("/admin/members/m_nobody/export", headers=operator_headers("alice")).status_code == 404


# --- deletion --------------------------------------------------------------------------------------


def test_deletion_leaves_no_personal_data_in_any_table_and_reconcile_stays_clean(
    api: Api, fake_wechat: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reset_fake_wechat(fake_wechat)
    seeded = seed_member(api, "gone", "13900005678")
    other = seed_member(api, "stays", "13700009999")
    before = json.dumps(_scan_all(), ensure_ascii=False)
    unseen = [secret for secret in seeded.secrets if secret not in before]
    assert unseen == [seeded.phone], "the scan sees every seeded value (the phone is only held encrypted)"
    sizes = _record_transaction_sizes(monkeypatch)

    response = api.http.post("/v1/me/deletion", headers=member_headers(seeded.token))

    assert response.status_code == 200, response.body
    body = response.json_body
    assert body["member_id"] == seeded.member_id and body["status"] == "deleted"
    released = body["released"]
    assert released["aliases"] >= 6 and released["consents"] == 2 and released["merged_accounts"] == 1
    assert released["requests"] == 1 and released["points_forfeited"] > 0
    after = json.dumps(_scan_all(), ensure_ascii=False)
    leaks = [secret for secret in seeded.secrets if secret in after]
    assert leaks == [], f"personal data left behind: {leaks}"
    assert [secret for secret in other.secrets if secret not in after] == [other.phone], "nobody else's was touched"
    tombstone = MemberModel.get(seeded.member_id)
    assert (tombstone.status, tombstone.balance, tombstone.debt) == ("deleted", 0, 0)
    assert points_repo.load_lots(seeded.member_id) == []
    assert list(points_repo.iter_member_entries(seeded.member_id)), "the ledger is kept, anonymised"
    ids = [seeded.member_id, seeded.follower_id, other.member_id, other.follower_id]
    assert list(reconcile(ids)) == []
    assert list(reconcile()) == []
    # A rejection, the erasure, the points closed, the tombstone: each within one transaction's limit.
    assert len(sizes) == 4 and max(sizes) <= 25, sizes


def _record_transaction_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from chalicelib.store import tx

    sizes: list[int] = []
    original = tx.UnitOfWork.commit

    def commit(self: tx.UnitOfWork) -> None:
        original(self)
        sizes.append(self.size)

    monkeypatch.setattr(tx.UnitOfWork, "commit", commit)
    return sizes


def test_deleted_members_token_is_refused_and_the_same_wechat_user_registers_as_a_new_member(api: Api) -> None:
    token, member_id = api.login("phoenix")
    phone = dumps({"code": "phone:13500002222"})
    assert api.http.post("/v1/me/phone", body=phone, headers=member_headers(token)).status_code == 200
    api.order("PX-1", {"member_id": member_id}, 10_000)
    assert api.http.post("/v1/me/deletion", headers=member_headers(token)).status_code == 200

    refused = api.me(token)
    assert refused.status_code == 401 and refused.json_body["error"]["code"] == "member_deleted"
    assert api.http.get("/v1/me/export", headers=member_headers(token)).status_code == 401
    assert api.http.post("/v1/me/deletion", headers=member_headers(token)).status_code == 401

    new_token, new_id = api.login("phoenix")
    assert new_id != member_id
    card = api.me(new_token).json_body
    assert (card["points"]["balance"], card["nickname"]) == (0, None)
    assert api.order("PX-2", {"openid": "o_phoenix"}, 1_000).json_body["member_id"] == new_id
    rebound = api.http.post("/v1/me/phone", body=phone, headers=member_headers(new_token))
    assert rebound.status_code == 200, "the phone was released with the old account"


def test_operator_deletion_is_audited_idempotent_and_not_for_auditors(api: Api) -> None:
    token, member_id = api.login("ticket")
    api.order("TK-1", {"member_id": member_id}, 30_000)
    path = f"/admin/members/{member_id}/deletion"
    reason = dumps({"reason": "会员来电申请注销 工单 4711"})

    assert api.http.post(path, body=reason, headers=operator_headers("erin")).status_code == 403
    assert api.http.post(path, body=b"{}", headers=operator_headers("alice")).status_code == 400
    first = api.http.post(path, body=reason, headers=operator_headers("alice"))
    again = api.http.post(path, body=reason, headers=operator_headers("bob"))

    assert first.status_code == again.status_code == 200
    assert first.json_body == again.json_body and first.json_body["released"]["points_forfeited"] == 300
    assert api.me(token).status_code == 401
    [entry] = [e for e in _audit(api, member_id) if e["action"] == "POST /admin/members/{member_id}/deletion"]
    assert (entry["operator"], entry["role"]) == ("alice", "operator"), "a replay that changes nothing adds no entry"
    assert entry["before"]["status"] == "active" and entry["after"]["status"] == "deleted"
    assert api.http.get(f"/admin/members/{member_id}/export", headers=operator_headers("alice")).status_code == 404
    assert (
        api.http.post("/admin/members/m_nobody/deletion", body=reason, headers=operator_headers("alice")).status_code
        == 404
    )


def test_members_own_deletion_is_audited_as_the_member(api: Api) -> None:
    token, member_id = api.login("selfie")
    assert api.http.post("/v1/me/deletion", headers=member_headers(token)).status_code == 200
    [entry] = _audit(api, member_id)
    assert (entry["operator"], entry["role"], entry["action"]) == (member_id, "member", "POST /v1/me/deletion")


def test_deletion_forgives_points_debt_and_reconcile_stays_clean(api: Api) -> None:
    token, member_id = api.login("debtor")
    api.order("DB-1", {"member_id": member_id}, 10_000)  # 100 points
    assert api.redeem(token, 80, "db-spend").status_code == 201
    assert api.refund("DB-1", {}).json_body["balance"] == -80  # 80 points of debt (欠分)

    body = api.http.post("/v1/me/deletion", headers=member_headers(token)).json_body

    assert (body["released"]["points_forfeited"], body["released"]["debt_forgiven"]) == (0, 80)
    member = members_repo.get_member(member_id)
    assert (member.balance, member.debt) == (0, 0)
    assert list(reconcile([member_id])) == []


def test_a_merge_under_way_refuses_deletion_until_it_is_done(api: Api) -> None:
    from chalicelib.domain.members import MergeRecord, MergeStatus

    token, member_id = api.login("merging")
    _, survivor = api.login("keeper")
    merge_repo.start(MergeRecord(member_id, survivor, MergeStatus.STARTED, "operator", "2026-11-22T01:00:00Z"))

    refused = api.http.post("/v1/me/deletion", headers=member_headers(token))

    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "privacy_merge_pending"
    assert members_repo.get_member(member_id).mini_openid == "o_merging", "nothing was erased"
    assert _audit(api, member_id) == []


def test_a_pending_adjustment_is_rejected_and_cannot_be_approved_onto_the_closed_account(api: Api) -> None:
    token, member_id = api.login("waiting")
    approval_id = api.adjust(member_id, 5_000, "big").json_body["approval_id"]
    assert api.http.post("/v1/me/deletion", headers=member_headers(token)).json_body["released"]["requests"] == 1

    approved = api.http.post(f"/admin/approvals/{approval_id}/approve", body=b"{}", headers=operator_headers("bob"))

    assert approved.status_code == 409
    assert members_repo.get_member(member_id).balance == 0
    assert list(reconcile([member_id])) == []


def test_an_order_naming_a_closed_account_by_id_earns_nothing(api: Api) -> None:
    token, member_id = api.login("gone")
    assert api.http.post("/v1/me/deletion", headers=member_headers(token)).status_code == 200

    order = api.order("GONE-1", {"member_id": member_id}, 50_000)

    assert order.status_code == 404
    assert MemberModel.get(member_id).balance == 0
