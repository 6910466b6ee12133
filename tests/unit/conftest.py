"""Shared fixtures of the unit tests: campaign terms, a device catalog, an app factory.

Everything is session scoped and immutable (or a factory), so that hypothesis
tests can use it too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import pytest

from cashback.app import CashbackApp
from cashback.clock import FixedClock
from domain.catalog import CatalogEntry, InMemoryCatalog
from domain.enrolment import Enrolment
from domain.provenance import Channel, Provenance
from domain.terms import CampaignTerms

CAMPAIGN = "fr-2026"
NOW = datetime(2026, 6, 1, 10, tzinfo=UTC)  # noon in Paris, 2026-06-01
TODAY = date(2026, 6, 1)

# Catalog serials and what the campaign makes of them.
PAYABLE_SB3 = "3001000001"  # SB3.0-1AV-41, sold in FR: 50.00 EUR
PAYABLE_SB5 = "3001000002"  # SB5.0-1AV-41, sold in FR: 75.00 EUR
PAYABLE_STP = "3001000003"  # STP10.0-3AV-40, sold in FR: 100.00 EUR
SOLD_ABROAD = "3001000004"  # SB3.0-1AV-41, sold in DE: documents required
NOT_ELIGIBLE = "3001000005"  # a type outside the campaign
UNKNOWN = "3009999999"  # never produced

SB3 = "SB3.0-1AV-41"
SB5 = "SB5.0-1AV-41"
STP = "STP10.0-3AV-40"
OLD_TYPE = "SMC6000A"

ENROLLED = "C100"
ENROLLED_TOO = "C200"
ENROLLED_LATER = "C300"  # enrolled after today
UNKNOWN_COMPANY = "C900"

ENV = {
    "PERSISTENCE_MODULE": "eventsourcing.sqlite",
    "SQLITE_DBNAME": ":memory:",
    "PROCESS_RECORDER_TOPIC": "adapters.sqlite_store:CashbackSQLiteRecorder",
}

FEED = Provenance("portal-feed", Channel.FEED, "portal.device-registrations.v1/0/42")
STAFF = Provenance("alice@maker.example", Channel.STAFF, "review")
FINANCE = Provenance("finance", Channel.FINANCE, "payout-results.v1/0/7")
SYSTEM = Provenance("payment-run", Channel.SYSTEM, "run")


def make_terms(**overrides: object) -> CampaignTerms:
    data: dict[str, object] = {
        "id": CAMPAIGN,
        "name": "Cashback Installateurs France 2026",
        "country": "FR",
        "installation_from": date(2026, 3, 1),
        "installation_to": date(2026, 12, 31),
        "registration_deadline": date(2027, 1, 31),
        "document_window_days": 14,
        "eligible_types": [
            {"device_type": SB3, "category": "inverter", "amount_cents": 5000},
            {"device_type": SB5, "category": "inverter", "amount_cents": 7500},
            {"device_type": STP, "category": "inverter", "amount_cents": 10000},
        ],
        "documents_rules": [
            {"code": "SOLD_IN_OTHER_COUNTRY", "kind": "sold_in_other_country", "documents": ["invoice"]},
        ],
    }
    data.update(overrides)
    return CampaignTerms.model_validate(data)


def both_documents_terms() -> CampaignTerms:
    """Terms under which a device sold abroad (SOLD_ABROAD) needs the invoice and the commissioning report."""
    return make_terms(documents_rules=[
        {"code": "SOLD_IN_OTHER_COUNTRY", "kind": "sold_in_other_country",
         "documents": ["invoice", "commissioning_report"]}])


CATALOG_ENTRIES = (
    CatalogEntry(PAYABLE_SB3, SB3, date(2025, 11, 3), "FR"),
    CatalogEntry(PAYABLE_SB5, SB5, date(2025, 12, 1), "FR"),
    CatalogEntry(PAYABLE_STP, STP, date(2026, 1, 15), "FR"),
    CatalogEntry(SOLD_ABROAD, SB3, date(2025, 10, 1), "DE"),
    CatalogEntry(NOT_ELIGIBLE, OLD_TYPE, date(2025, 10, 1), "FR"),
)

ENROLMENTS = (
    Enrolment(customer_no=ENROLLED, name="Soleil", contact_email="a@soleil.example", enrolled_on=date(2026, 1, 5)),
    Enrolment(customer_no=ENROLLED_TOO, name="Watt & Co", contact_email="b@watt.example", enrolled_on=date(2026, 2, 1)),
    Enrolment(customer_no=ENROLLED_LATER, name="Tardif", contact_email="c@t.example", enrolled_on=date(2026, 7, 1)),
)


def build_app(at: datetime = NOW, terms: CampaignTerms | None = None) -> CashbackApp:
    """A fresh application on its own in-memory SQLite store, companies enrolled."""
    app = CashbackApp(
        env=ENV,
        terms=terms or make_terms(),
        catalog=InMemoryCatalog(CATALOG_ENTRIES),
        clock=FixedClock(at),
    )
    app.enrol(ENROLMENTS, Provenance("ops", Channel.STAFF, "companies.csv"))
    return app


@pytest.fixture(scope="session")
def terms() -> CampaignTerms:
    return make_terms()


@pytest.fixture(scope="session")
def catalog() -> InMemoryCatalog:
    return InMemoryCatalog(CATALOG_ENTRIES)


@pytest.fixture(scope="session")
def app_factory() -> Callable[..., CashbackApp]:
    return build_app


@pytest.fixture
def app() -> CashbackApp:
    return build_app()
