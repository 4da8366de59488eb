"""Member profile rules: phone masking, birthday set once, gender values."""

from datetime import date

import pytest

from chalicelib.domain.errors import AlreadySet, InvalidInput
from chalicelib.domain.members import Member, apply_birthday, apply_gender, mask_phone, normalise_phone


def test_phone_is_shown_masked() -> None:
    assert mask_phone("13812341234") == "138****1234"


@pytest.mark.parametrize("raw", ["+8613812341234", "8613812341234", " 13812341234 "])
def test_phone_normalises_china_country_code(raw: str) -> None:
    assert normalise_phone(raw) == "13812341234"


@pytest.mark.parametrize("raw", ["", "abc", "138-1234", "1"])
def test_bad_phone_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_phone(raw)


def test_birthday_may_be_set_once() -> None:
    member = Member("m1", "2026-01-01")
    apply_birthday(member, date(1990, 5, 1), today=date(2026, 1, 1))
    apply_birthday(member, date(1990, 5, 1), today=date(2026, 1, 1))  # same value: no-op
    with pytest.raises(AlreadySet):
        apply_birthday(member, date(1991, 5, 1), today=date(2026, 1, 1))


def test_birthday_in_the_future_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        apply_birthday(Member("m1", "x"), date(2026, 1, 2), today=date(2026, 1, 1))


def test_unknown_gender_is_rejected() -> None:
    with pytest.raises(InvalidInput):
        apply_gender(Member("m1", "x"), "robot")


def test_a_phone_in_unicode_digits_is_refused() -> None:
    from chalicelib.domain.errors import InvalidInput
    from chalicelib.domain.members import normalise_phone

    with pytest.raises(InvalidInput):
        normalise_phone("1380000123²")
    with pytest.raises(InvalidInput):
        normalise_phone("١٣٨٠٠٠٠١٢٣٤")
