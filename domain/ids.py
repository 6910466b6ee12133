"""Deterministic identities: the same device always lands on the same aggregate."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

_REGISTRATION_NS = uuid5(NAMESPACE_URL, "urn:cashback:device-registration")
_PAYOUT_NS = uuid5(NAMESPACE_URL, "urn:cashback:payout")
_COMPANY_NS = uuid5(NAMESPACE_URL, "urn:cashback:company")


def registration_id(campaign_id: str, serial: str) -> UUID:
    """uuid5 of campaign id + normalised serial."""
    return uuid5(_REGISTRATION_NS, f"{campaign_id}\x1f{serial}")


def payout_id(run_id: str, customer_no: str) -> UUID:
    return uuid5(_PAYOUT_NS, f"{run_id}\x1f{customer_no}")


def company_id(campaign_id: str, customer_no: str) -> UUID:
    return uuid5(_COMPANY_NS, f"{campaign_id}\x1f{customer_no}")
