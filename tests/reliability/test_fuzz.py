"""Fuzz every route declared for /openapi.json with random and near-valid bodies and query strings:
zero 5xx, and every answer matches its documented schema (the response model or ErrorOut).

Seeded (derandomized) and bounded in `make test`; `make soak` runs many more examples."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.api.routing import ROUTES, RouteSpec, model
from chalicelib.api.schemas import ErrorOut
from tests.support.api import Api, member_headers, operator_headers, paid_at, pos_headers

STAFF_TOKEN: list[str] = [""]
EXAMPLES = 2000 if os.environ.get("WXM_SOAK") else 40
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(["", "0", "-1", "1990-02-30", "2026-11-20T10:00:00+08:00", "demo:x"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
VALID = {
    "LoginIn": {"code": "demo:fuzz"},
    "ProfilePatch": {"nickname": "F", "gender": "male"},
    "PhoneIn": {"code": "phone:13700000000"},
    "RedemptionIn": {"points": 1, "reason": "fuzz"},
    "OrderIn": {
        "order_id": "FZ-1",
        "member": {"openid": "o_fuzz"},
        "amount_fen": 100,
        "paid_at": "",  # set to an hour before the pinned clock by the test
    },
    "RefundIn": {"amount_fen": 1, "refund_id": "fz"},
    "AdjustmentIn": {"points": 1, "reason": "fuzz"},
    "GrantIn": {"points": 1, "reason": "fuzz", "members_csv": "m_fuzz"},
    "StaffLoginIn": {"code": "staff:fuzzer"},
}


def _near_valid(model_name: str) -> st.SearchStrategy[Any]:
    base = VALID.get(model_name, {})
    return st.fixed_dictionaries({}).flatmap(
        lambda _: st.dictionaries(st.sampled_from(sorted(base) or ["x"]), json_values, max_size=3).map(
            lambda over: {**base, **over}
        )
    )


def _bodies(spec: RouteSpec) -> st.SearchStrategy[bytes]:
    values = json_values if spec.body is None else st.one_of(json_values, _near_valid(spec.body))
    raw = st.binary(max_size=64)
    return st.one_of(values.map(lambda v: json.dumps(v).encode()), raw)


def _send(api: Api, spec: RouteSpec, path: str, body: bytes, token: str, query: str) -> Any:
    headers: dict[str, str] = {"Content-Type": "application/json", "Idempotency-Key": "fz-key"}
    if spec.auth in ("member", "staff"):
        headers.update(member_headers(token if spec.auth == "member" else STAFF_TOKEN[0]))
    elif spec.auth == "pos":
        headers.update(pos_headers(spec.method, path, body))
    elif spec.auth == "operator":
        # An account whose role the route allows (api/permissions.py): the fuzz reaches the handler.
        headers.update(operator_headers("bob" if "operator" in spec.roles else "dana"))
    target = f"{path}?{query}" if query else path
    return api.http.request(spec.method, target, headers=headers, body=body)


def _check(spec: RouteSpec, response: Any) -> None:
    assert response.status_code < 500, (spec.method, spec.path, response.status_code, response.body)
    if 200 <= response.status_code < 300 and spec.response is not None:
        model(spec.response).model_validate_json(response.body)
    elif response.status_code >= 400 and spec.path == "/wechat/pay/notify":  # WeChat Pay's own shape
        assert set(json.loads(response.body)) == {"code", "message"}, response.body
    elif response.status_code >= 400:
        ErrorOut.model_validate_json(response.body)


def test_fuzz_every_documented_route(api: Api) -> None:
    VALID["OrderIn"]["paid_at"] = paid_at()
    token, member_id = api.login("fuzz")
    api.order("FZ-0", {"member_id": member_id}, 100_000)
    params = {
        "member_id": member_id,
        "order_id": "FZ-0",
        "approval_id": "apr_missing",
        "external_userid": "wm_fuzz",
        "campaign_id": "cmp_missing",
        "grant_id": "grt_missing",
        "operator_id": "carol",  # not a fuzzing account: its changes cannot lock the fuzz out
        "key_id": "seed0000",
    }
    staff = api.http.post(
        "/v1/staff/login", body=b'{"code": "staff:fuzzer"}', headers={"Content-Type": "application/json"}
    )
    STAFF_TOKEN[:] = [staff.json_body["token"]]
    queries = st.one_of(
        st.just(""),
        st.sampled_from(["limit=0", "limit=x", "cursor=@@", "limit=5&cursor="]),
        st.text(max_size=20).map(lambda t: f"cursor={t}"),
    )

    for spec in ROUTES:
        path = re.sub(r"{(\w+)}", lambda m: params.get(m.group(1), "x1"), spec.path)
        _fuzz_route(api, spec, path, token, queries)


def _fuzz_route(api: Api, spec: RouteSpec, path: str, token: str, queries: st.SearchStrategy[str]) -> None:
    @FUZZ
    @given(body=_bodies(spec), query=queries)
    def fuzz(body: bytes, query: str) -> None:
        _check(spec, _send(api, spec, path, body, token, query))

    fuzz()
