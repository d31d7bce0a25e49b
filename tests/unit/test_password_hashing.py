"""Password hashing: the profile sets the cost of new hashes; every stored hash verifies at its own cost."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from argon2 import extract_parameters, profiles

from riskcontrol.core import security


@pytest.fixture
def back_to_cheapest() -> Iterator[None]:
    yield
    security.use_password_hashing("cheapest")  # the suite's profile (tests/conftest.py)


def test_the_standard_profile_hashes_at_rfc_9106_cost_and_both_kinds_verify(back_to_cheapest: None) -> None:
    security.use_password_hashing("cheapest")
    cheap = security.hash_password("correct horse")
    security.use_password_hashing("standard")
    full = security.hash_password("correct horse")
    params = extract_parameters(full)
    assert (params.time_cost, params.memory_cost) == (
        profiles.RFC_9106_LOW_MEMORY.time_cost,
        profiles.RFC_9106_LOW_MEMORY.memory_cost,
    )
    assert extract_parameters(cheap).memory_cost == profiles.CHEAPEST.memory_cost
    assert security.verify_password(cheap, "correct horse")
    assert security.verify_password(full, "correct horse")
    assert not security.verify_password(full, "wrong horse")
    assert not security.verify_password(None, "correct horse")
