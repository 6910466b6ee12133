"""Identities: the same device always lands on the same aggregate."""

from __future__ import annotations

from uuid import UUID, uuid5

from hypothesis import given
from hypothesis import strategies as st

from domain.ids import _REGISTRATION_NS, registration_id


@given(campaign=st.text(max_size=20), serial=st.text(max_size=40))
def test_registration_ids_are_the_uuid5_of_campaign_and_serial(campaign: str, serial: str) -> None:
    expected = uuid5(_REGISTRATION_NS, f"{campaign}\x1f{serial}")
    got = registration_id(campaign, serial)
    assert got == expected and hash(got) == hash(expected) and str(got) == str(expected)
    assert got.version == 5 and got.bytes == expected.bytes and UUID(str(got)) == got
    assert {got: 1}[expected] == 1  # usable as the same dictionary key
