"""Demo data from the brand's programme, loaded through the HTTP API so the real paths run.
Fixed order ids and idempotency keys: loading twice changes nothing.

`python -m local.demo members N [--tag TAG]` adds N followers of the official account straight
into the members table (one BatchWriteItem per 25), for trying campaigns on a real-sized
audience; run it with the stack's environment (AWS_ENDPOINT_URL etc., as `make job` does).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from chalicelib.clock import utc_now
from local.pos_call import http_json, pos_request

JSON = {"Content-Type": "application/json"}


def _login(api_url: str, name: str) -> tuple[str, str]:
    status, body = http_json(api_url, "POST", "/v1/auth/login", json.dumps({"code": f"demo:{name}"}).encode(), JSON)
    if status != 200:
        raise RuntimeError(f"demo login failed: {status} {body}")
    return body["token"], body["member_id"]


def _expect(what: str, status: int, body: object, ok: tuple[int, ...] = (200, 201)) -> None:
    if status not in ok:
        raise RuntimeError(f"demo {what} failed: {status} {body}")


DEMO_PROGRAMME = Path(__file__).with_name("demo_programme.json")


def publish_demo_programme(api_url: str, operators_file: Path) -> None:
    """The design's demo programme (普通 / 银卡 / 金卡 / 黑金, ¥100 → 10 points, ×2 for 银卡,
    redemption from 500 points, 12-month expiry), published by the console admin once: a
    programme an operator changed since is left as it is."""
    password = json.loads(operators_file.read_text(encoding="utf-8"))["admin"]["password"]
    body = json.dumps({"operator_id": "admin", "password": password}).encode()
    status, signed = http_json(api_url, "POST", "/admin/auth/login", body, JSON)
    _expect("console sign-in", status, signed)
    admin = {**JSON, "Authorization": f"Bearer {signed['token']}"}
    status, shown = http_json(api_url, "GET", "/admin/programme", None, admin)
    _expect("programme", status, shown)
    if shown["version"] is not None:
        return
    programme = json.loads(DEMO_PROGRAMME.read_text(encoding="utf-8"))
    document = json.dumps({"base_version": None, "note": "演示方案 (make run)", "programme": programme}).encode()
    _expect("programme", *http_json(api_url, "PUT", "/admin/programme", document, admin))


def load_demo(api_url: str, secrets_file: Path, operators_file: Path) -> str:
    """Returns alice's token, for the printed curl lines and the self-check."""
    publish_demo_programme(api_url, operators_file)
    token, alice = _login(api_url, "alice")
    _, bob = _login(api_url, "bob")
    auth = {**JSON, "Authorization": f"Bearer {token}"}
    _expect("phone", *http_json(api_url, "POST", "/v1/me/phone", b'{"code": "phone:13800001234"}', auth))
    status, body = http_json(api_url, "PATCH", "/v1/me", b'{"nickname": "Alice", "birthday": "1992-11-23"}', auth)
    _expect("profile", status, body, (200, 409))
    orders = [
        ("DEMO-1001", {"openid": "o_alice"}, 320_000, "SH-JINGAN"),
        ("DEMO-1002", {"phone": "13800001234"}, 18_800, "SH-XUHUI"),
        ("DEMO-2001", {"member_id": bob}, 59_900, "BJ-SANLITUN"),
    ]
    # Paid two days ago: orders are dated by when they were paid, within the backdating window.
    paid_at = (utc_now() - timedelta(days=2)).astimezone(ZoneInfo("Asia/Shanghai")).isoformat(timespec="seconds")
    for order_id, member, amount, store in orders:
        payload = {
            "order_id": order_id,
            "member": member,
            "amount_fen": amount,
            "paid_at": paid_at,
            "store_id": store,
        }
        _expect("order", *pos_request(api_url, "POST", "/v1/orders", json.dumps(payload).encode(), secrets_file))
    refund = json.dumps({"refund_id": "DEMO-1002-R1", "amount_fen": 8_800}).encode()
    _expect("refund", *pos_request(api_url, "POST", "/v1/orders/DEMO-1002/refund", refund, secrets_file))
    redeem = {**auth, "Idempotency-Key": "demo-redeem-1"}
    _expect(
        "redemption",
        *http_json(
            api_url, "POST", "/v1/me/points/redemptions", b'{"points": 100, "reason": "exchange: tote bag"}', redeem
        ),
    )
    key = json.loads(operators_file.read_text(encoding="utf-8"))["alice"]["key"]
    operator = {**JSON, "X-Operator-Id": "alice", "X-Operator-Key": key, "Idempotency-Key": "demo-adj-1"}
    _expect(
        "adjustment",
        *http_json(
            api_url,
            "POST",
            f"/admin/members/{bob}/points/adjustments",
            b'{"points": 50, "reason": "welcome gift (store opening)"}',
            operator,
        ),
    )
    return token


def add_members(count: int, tag: str, skipped_every: int = 10) -> None:
    """Members `demo_<tag>_00000`… tagged `tag`; every `skipped_every`-th one neither follows
    the official account nor uses the mini-program, so a campaign counts it as skipped."""
    from chalicelib.store.models import MemberModel

    with MemberModel.batch_write() as batch:
        for n in range(count):
            item = MemberModel(f"demo_{tag}_{n:05d}", created_at="2026-01-01T00:00:00Z", tier_code="normal")
            item.tags = {tag}
            if skipped_every <= 0 or n % skipped_every:
                item.mp_openid, item.mp_followed = f"mp_{tag}_{n}", True
            batch.save(item)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    members = commands.add_parser("members", help="add N official-account followers for campaigns")
    members.add_argument("count", type=int)
    members.add_argument("--tag", default="demo", help="tag them, to make them a campaign's audience")
    args = parser.parse_args(argv)
    add_members(args.count, args.tag)
    print(f"added {args.count} members tagged {args.tag!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
