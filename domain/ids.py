"""Deterministic identities: the same device always lands on the same aggregate."""

from __future__ import annotations

import hashlib
from uuid import NAMESPACE_URL, UUID, SafeUUID, uuid5

_REGISTRATION_NS = uuid5(NAMESPACE_URL, "urn:cashback:device-registration")
_PAYOUT_NS = uuid5(NAMESPACE_URL, "urn:cashback:payout")
_COMPANY_NS = uuid5(NAMESPACE_URL, "urn:cashback:company")

_REGISTRATION_SHA1 = hashlib.sha1(_REGISTRATION_NS.bytes, usedforsecurity=False)
# RFC 4122 version 5: clear the version and variant bits of the hash, then set them.
_V5_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_V5_SET = (5 << 76) | (0x8000 << 48)


def registration_id(campaign_id: str, serial: str) -> UUID:
    """uuid5 of campaign id + normalised serial (``uuid5`` itself, computed without its overheads:
    the feed computes one per record; tests/unit/test_ids.py compares both)."""
    digest = _REGISTRATION_SHA1.copy()
    digest.update(f"{campaign_id}\x1f{serial}".encode())
    value = (int.from_bytes(digest.digest()[:16], "big") & _V5_CLEAR) | _V5_SET
    uuid = object.__new__(UUID)
    object.__setattr__(uuid, "int", value)
    object.__setattr__(uuid, "is_safe", SafeUUID.unknown)
    return uuid


def payout_id(run_id: str, customer_no: str) -> UUID:
    return uuid5(_PAYOUT_NS, f"{run_id}\x1f{customer_no}")


def company_id(campaign_id: str, customer_no: str) -> UUID:
    return uuid5(_COMPANY_NS, f"{campaign_id}\x1f{customer_no}")
