"""What an audit summary may hold: no secrets, no raw phone numbers, nothing large."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.audit import MAX_ITEMS, MAX_STRING, summary
from chalicelib.security.passwords import weak_password_reason

PHONE = re.compile(r"1[3-9]\d{9}")
# Numbers stay exact (amounts in fen can have 11 digits); a phone handed over as a number is
# caught by its key (`phone`), as the next test shows.
values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.text(max_size=300)
    | st.from_regex(PHONE, fullmatch=True),
    lambda inner: st.lists(inner, max_size=60) | st.dictionaries(st.text(max_size=12), inner, max_size=60),
    max_leaves=80,
)


@given(values)
def test_no_phone_number_survives_a_summary(value: Any) -> None:
    assert not PHONE.search(json.dumps(summary(value), ensure_ascii=False))


@given(st.dictionaries(st.sampled_from(["password", "api_key", "session_key", "token", "phone", "openid"]),
                       st.text(min_size=1, max_size=20), min_size=1))  # fmt: skip
def test_secret_and_personal_keys_are_redacted(value: dict[str, str]) -> None:
    assert set(summary(value).values()) == {"[redacted]"}


def test_long_strings_and_collections_are_cut() -> None:
    cut = summary({"note": "x" * 1000, "ids": list(range(500))})

    assert len(cut["note"]) == MAX_STRING and len(cut["ids"]) == MAX_ITEMS


def test_phones_keep_their_first_three_and_last_four_digits() -> None:
    assert summary({"detail": "会员 13800001234 的积分"}) == {"detail": "会员 138****1234 的积分"}


def test_weak_passwords_are_refused_with_the_reason() -> None:
    assert weak_password_reason("short", "dana") is not None
    assert weak_password_reason("dana-is-the-admin", "dana") == "must not contain the operator id"
    assert weak_password_reason("aaaaaabbbbbb", "dana") == "must use at least 6 different characters"
    assert weak_password_reason("correct horse battery", "dana") is None
