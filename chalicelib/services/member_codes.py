"""The member code (会员码): a short public code that names a member without exposing the
member id. It is the invite code of a referral (邀请码) and what a points gift is sent to.

Eight characters of Crockford's base32 (no I, L, O, U: read aloud and typed by hand without
confusion) plus one check character, so a mistyped code is refused before any lookup.
Assigned on first use, once: the code's alias `code:<code>` is put only if no member holds
it, together with the member's `member_code`, only if the member has none; a collision
draws again, a concurrent first use finds the code the other request assigned.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from chalicelib.clock import iso
from chalicelib.domain.errors import InvalidInput, MemberNotFound
from chalicelib.settings import get_settings
from chalicelib.store import members_repo
from chalicelib.store.models import MemberModel
from chalicelib.store.tx import TransactionFailed, UnitOfWork

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY = 8  # 40 bits: codes are shared on purpose; the check character catches typing slips
ATTEMPTS = 5


def check_character(body: str) -> str:
    """A weighted sum mod 32: catches any one wrong character and most swaps of neighbours."""
    total = sum((index + 1) * ALPHABET.index(char) for index, char in enumerate(body))
    return ALPHABET[total % len(ALPHABET)]


def normalise(code: str, field: str = "code") -> str:
    """Upper case, the look-alikes read as Crockford does (O → 0, I and L → 1), the check verified."""
    text = code.strip().upper().translate(str.maketrans("OIL", "011"))
    if len(text) != BODY + 1 or any(char not in ALPHABET for char in text):
        raise InvalidInput(f"a member code is {BODY + 1} letters and digits", field=field)
    if check_character(text[:BODY]) != text[BODY]:
        raise InvalidInput("the member code is mistyped", field=field)
    return text


def code_of(member_id: str, now: datetime) -> str:
    """The member's code, assigned on first use."""
    for _ in range(ATTEMPTS):
        member = members_repo.get_live_member(member_id)
        if member.member_code:
            return member.member_code
        body = "".join(secrets.choice(ALPHABET) for _ in range(BODY))
        code = body + check_character(body)
        tx = UnitOfWork(get_settings().region)
        members_repo.stage_alias(tx, f"code:{code}", member.member_id, iso(now))
        tx.update(
            "member",
            MemberModel(member.member_id),
            actions=[MemberModel.member_code.set(code)],
            condition=MemberModel.member_id.exists() & MemberModel.member_code.does_not_exist(),
        )
        try:
            tx.commit()
            return code
        except TransactionFailed as failure:
            if not failure.refused:
                raise
            # The code was drawn before (draw again) or the member got one meanwhile (read it).
    raise RuntimeError(f"no member code assigned to {member_id} after {ATTEMPTS} draws")


def member_of(code: str, field: str = "code") -> str:
    """The live member a code names (a merged member's code reaches the survivor, as its alias moved)."""
    alias = f"code:{normalise(code, field)}"
    found = members_repo.find_member_ids([alias]).get(alias)
    if found is None:
        raise MemberNotFound("no member has this code", field=field)
    return members_repo.get_live_member(found).member_id
