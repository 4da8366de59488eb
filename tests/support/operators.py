"""The operator accounts every test's tables start with, and their script keys.

alice, bob and carol are operators (maker and checker of each other's requests), dana an
admin, erin an auditor. Keys are stored as the product stores them (SHA-256); passwords are
not seeded (argon2 costs ~0.2 s a hash): a test that signs in sets one (`with_password`).
"""

from __future__ import annotations

from chalicelib.domain.operators import Role

OPERATOR_ROLES: dict[str, Role] = {
    "alice": Role.OPERATOR,
    "bob": Role.OPERATOR,
    "carol": Role.OPERATOR,
    "dana": Role.ADMIN,
    "erin": Role.AUDITOR,
}
OPERATOR_KEYS: dict[str, str] = {name: f"{name}-key" for name in OPERATOR_ROLES}
SEEDED_AT = "2026-01-01T00:00:00.000000Z"


def seed_operators() -> None:
    from chalicelib.security.passwords import hash_key
    from chalicelib.store import operators_repo
    from chalicelib.store.models import OperatorModel

    with OperatorModel.batch_write() as batch:
        for name, role in OPERATOR_ROLES.items():
            batch.save(
                OperatorModel(
                    name,
                    role=str(role),
                    display_name=name.title(),
                    status="active",
                    key_hashes={"seed0000": hash_key(OPERATOR_KEYS[name])},
                    generation=0,
                    created_at=SEEDED_AT,
                    created_by="tests",
                )
            )
    operators_repo.seed_admin_count(sum(1 for role in OPERATOR_ROLES.values() if role == Role.ADMIN))


def with_password(operator_id: str, password: str) -> None:
    from chalicelib.security.passwords import hash_password
    from chalicelib.store.models import OperatorModel

    OperatorModel(operator_id).update(actions=[OperatorModel.password_hash.set(hash_password(password))])
