"""How each kind of caller authenticates against the local stack, as a `requests` auth per
security scheme of `/openapi.json`, applied to the prepared request: a POS signature covers the
exact bytes and path that are sent.

Schemathesis generates the security headers the document declares, and leaves one out on
purpose to see it refused: each auth here replaces the generated headers with real credentials
and never adds one that was left out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.auth import AuthBase

from chalicelib.clock import epoch_seconds
from chalicelib.security.signatures import pos_signature
from chalicelib.settings import read_secrets_file

MEMBER = "contract"  # logs in with demo:contract (openid o_contract) and staff:contract


def _replace(request: requests.PreparedRequest, name: str, value: str) -> None:
    if name in request.headers:
        request.headers[name] = value


class Bearer(AuthBase):
    HEADERS = ("Authorization",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        _replace(request, "Authorization", f"Bearer {self.token}")
        return request


class PosSignature(AuthBase):
    """`METHOD \\n PATH \\n TIMESTAMP \\n sha256(body)`: the path as the API sees it (decoded)."""

    HEADERS = ("X-Client-Id", "X-Timestamp", "X-Signature")

    def __init__(self, client_id: str, secret: str) -> None:
        self.client_id, self.secret = client_id, secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        stamp = str(int(epoch_seconds()))
        path = unquote(urlsplit(str(request.url)).path)
        _replace(request, "X-Client-Id", self.client_id)
        _replace(request, "X-Timestamp", stamp)
        _replace(request, "X-Signature", pos_signature(self.secret, str(request.method), path, stamp, body))
        return request


class OperatorKey(AuthBase):
    HEADERS = ("X-Operator-Id", "X-Operator-Key")

    def __init__(self, operator_id: str, key: str) -> None:
        self.operator_id, self.key = operator_id, key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        _replace(request, "X-Operator-Id", self.operator_id)
        _replace(request, "X-Operator-Key", self.key)
        return request


class Operator(AuthBase):
    """The admin area's two schemes as one credential: the document offers either a console
    token or an id and script key, and schemathesis draws one; whichever headers it drew get
    the real values (one auth per operation, so both must live in one object)."""

    HEADERS = ("Authorization", "X-Operator-Id", "X-Operator-Key")

    def __init__(self, token: Bearer, key: OperatorKey) -> None:
        self.token, self.key = token, key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return self.key(self.token(request))


Credential = Bearer | PosSignature | OperatorKey | Operator


class Always(AuthBase):
    """The credentials on every request (setting up data), not only where generated."""

    def __init__(self, auth: Credential) -> None:
        self.auth = auth

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        for name in self.auth.HEADERS:
            request.headers.setdefault(name, "")
        return self.auth(request)


def security_schemes(operation: Any) -> set[str]:
    """The security schemes an operation of the document names (none: a public route)."""
    return {scheme for requirement in operation.definition.raw.get("security", []) for scheme in requirement}


def _login(api_url: str, path: str, code: str) -> str:
    response = requests.post(f"{api_url}{path}", json={"code": code}, timeout=10)
    response.raise_for_status()
    return str(response.json()["token"])


@dataclass(frozen=True)
class Callers:
    # a security scheme of the document → the credential it asks for
    by_scheme: dict[str, Credential]
    second_operator: OperatorKey  # another operator, to request what the run's operator may approve


def log_in_callers(api_url: str, secrets_file: Path) -> Callers:
    """The stack's callers; the operators are those of `make run` (local/operators.py): the
    console admin signs in with its password, alice and bob use their script keys."""
    secrets = read_secrets_file(str(secrets_file))
    pos_id, pos_secret = next(iter(json.loads(secrets["POS_CLIENTS"]).items()))
    accounts = json.loads((secrets_file.parent / "operators.json").read_text(encoding="utf-8"))
    pos = PosSignature(pos_id, pos_secret)
    operator = OperatorKey("alice", accounts["alice"]["key"])
    signed_in = requests.post(
        f"{api_url}/admin/auth/login",
        json={"operator_id": "admin", "password": accounts["admin"]["password"]},
        timeout=10,
    )
    signed_in.raise_for_status()
    by_scheme: dict[str, Credential] = {
        "memberToken": Bearer(_login(api_url, "/v1/auth/login", f"demo:{MEMBER}")),
        "staffToken": Bearer(_login(api_url, "/v1/staff/login", f"staff:{MEMBER}")),
        **dict.fromkeys(("posClientId", "posTimestamp", "posSignature"), pos),
        **dict.fromkeys(
            ("operatorToken", "operatorId", "operatorKey"), Operator(Bearer(str(signed_in.json()["token"])), operator)
        ),
    }
    return Callers(by_scheme, OperatorKey("bob", accounts["bob"]["key"]))
