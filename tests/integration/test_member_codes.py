"""The member code (会员码 / 邀请码): assigned once, even when first asked for concurrently,
checked by its check character, and followed through a merge."""

from __future__ import annotations

import pytest

from chalicelib import clock
from chalicelib.domain.errors import InvalidInput, MemberNotFound
from chalicelib.services import member_codes
from chalicelib.store import members_repo
from tests.support.api import Api
from tests.support.race import race


def test_a_code_is_assigned_once_and_names_its_member(api: Api) -> None:
    _, member_id = api.login("codes-a")
    code = member_codes.code_of(member_id, clock.utc_now())
    assert len(code) == 9 and code == member_codes.normalise(code)
    assert member_codes.code_of(member_id, clock.utc_now()) == code
    assert members_repo.get_member(member_id).member_code == code
    assert member_codes.member_of(code.lower()) == member_id


def test_concurrent_first_use_assigns_one_code(api: Api) -> None:
    _, member_id = api.login("codes-race")
    codes = race([lambda: member_codes.code_of(member_id, clock.utc_now()) for _ in range(8)])
    assert len(set(codes)) == 1 and isinstance(codes[0], str)
    assert members_repo.find_member_ids([f"code:{codes[0]}"]) == {f"code:{codes[0]}": member_id}


def test_a_mistyped_code_is_refused_before_any_lookup(api: Api) -> None:
    _, member_id = api.login("codes-typo")
    code = member_codes.code_of(member_id, clock.utc_now())
    wrong = member_codes.ALPHABET[(member_codes.ALPHABET.index(code[0]) + 1) % 32] + code[1:]
    with pytest.raises(InvalidInput, match="mistyped"):
        member_codes.member_of(wrong, field="to_code")
    with pytest.raises(InvalidInput) as short:
        member_codes.member_of("ABC", field="to_code")
    assert short.value.field == "to_code"


def test_an_unknown_code_names_no_member(api: Api) -> None:
    body = "ZZZZZZZZ"
    with pytest.raises(MemberNotFound):
        member_codes.member_of(body + member_codes.check_character(body))


def test_look_alike_letters_read_as_digits() -> None:
    body = "0011ABCD"
    code = body + member_codes.check_character(body)
    assert member_codes.normalise(code.replace("0", "O").replace("1", "l")) == code
