"""A small campaign, catalog and two companies with devices in every status, for the portal's tests."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook

from adapters.excel import write_template
from adapters.http.tokens import TokenStore
from cashback.bootstrap import Engine, build
from cashback.clock import FixedClock
from cashback.intake import register_one
from cashback.requests import build_request
from cashback.settings import Settings
from domain.catalog import CatalogEntry, InMemoryCatalog
from domain.enrolment import Enrolment
from domain.provenance import Channel, Provenance
from domain.terms import CampaignTerms

NOW = datetime(2026, 6, 1, 10, tzinfo=UTC)
SB3, SB5, STP = "SB3.0-1AV-41", "SB5.0-1AV-41", "STP10.0-3AV-40"
COMPANY_A, COMPANY_B = "100000", "200000"

# Company A's devices
A_PAYABLE = ("3001000001", "3001000002", "3001000003")
A_DOCS = "3001000004"  # sold in DE: documents required
A_UNKNOWN = "3009999999"  # never produced: rejected
# Company B's devices
B_PAYABLE = ("3002000001", "3002000002")
B_DOCS = "3002000004"
# Free catalog serials for registrations made by the tests
FREE_SB3 = ("3003000001", "3003000002", "3003000003", "3003000004", "3003000005")
FREE_ABROAD = "3003000009"
FREE_OLD_STOCK = "3003000010"  # produced before the campaign's cut-off: invoice and commissioning report


def make_terms() -> CampaignTerms:
    return CampaignTerms.model_validate({
        "id": "fr-2026", "name": "Cashback Installateurs France 2026", "country": "FR",
        "installation_from": date(2026, 3, 1), "installation_to": date(2026, 12, 31),
        "registration_deadline": date(2027, 1, 31), "document_window_days": 14,
        "eligible_types": [
            {"device_type": SB3, "category": "inverter", "amount_cents": 5000},
            {"device_type": SB5, "category": "inverter", "amount_cents": 7500},
            {"device_type": STP, "category": "inverter", "amount_cents": 10000},
        ],
        "documents_rules": [{"code": "SOLD_IN_OTHER_COUNTRY", "kind": "sold_in_other_country",
                             "documents": ["invoice"]},
                            {"code": "OLD_STOCK", "kind": "produced_before", "before": date(2024, 9, 1),
                             "documents": ["invoice", "commissioning_report"]}],
    })


def make_catalog() -> InMemoryCatalog:
    produced = date(2025, 11, 3)
    entries = [
        CatalogEntry(A_PAYABLE[0], SB3, produced, "FR"), CatalogEntry(A_PAYABLE[1], SB5, produced, "FR"),
        CatalogEntry(A_PAYABLE[2], STP, produced, "FR"), CatalogEntry(A_DOCS, SB3, produced, "DE"),
        CatalogEntry(B_PAYABLE[0], SB3, produced, "FR"), CatalogEntry(B_PAYABLE[1], SB5, produced, "FR"),
        CatalogEntry(B_DOCS, SB3, produced, "DE"), CatalogEntry(FREE_ABROAD, SB3, produced, "DE"),
        CatalogEntry(FREE_OLD_STOCK, SB3, date(2024, 1, 10), "FR"),
        *(CatalogEntry(s, SB3, produced, "FR") for s in FREE_SB3),
    ]
    return InMemoryCatalog(entries)


@dataclass
class Tokens:
    a: str
    b: str
    staff: str
    finance: str
    auditor: str
    revoked: str


def make_engine(data_dir: Path, **settings: object) -> Engine:
    config = Settings(_env_file=None, store="sqlite", data_dir=data_dir, **settings)  # type: ignore[call-arg]
    return build(config, clock=FixedClock(NOW), terms=make_terms(), catalog=make_catalog())


def seed(engine: Engine) -> Tokens:
    """Enrol A and B, register their devices, create one token per role."""
    app = engine.app
    ops = Provenance("ops", Channel.STAFF, "tests")
    app.enrol([
        Enrolment(customer_no=COMPANY_A, name="Soleil SARL", contact_email="a@soleil.example",
                  enrolled_on=date(2026, 1, 5)),
        Enrolment(customer_no=COMPANY_B, name="Watt & Co", contact_email="b@watt.example",
                  enrolled_on=date(2026, 1, 5)),
    ], ops)
    for company, serials in ((COMPANY_A, (*A_PAYABLE, A_DOCS, A_UNKNOWN)), (COMPANY_B, (*B_PAYABLE, B_DOCS))):
        for serial in serials:
            entry = engine.app.catalog.lookup(serial)
            request = build_request(serial=serial, device_type=entry.device_type if entry else SB3,
                                    installed_on="2026-05-02", customer_no=company)
            register_one(app, request, actor=f"seed:{company}", channel=Channel.MANUAL, source="seed")
    engine.projector().catch_up()
    store = TokenStore(engine.read_db)
    _, revoked = store.create("installer", COMPANY_A, "revoked")
    store.revoke(revoked.split("_")[1])
    return Tokens(
        a=store.create("installer", COMPANY_A, "A")[1], b=store.create("installer", COMPANY_B, "B")[1],
        staff=store.create("staff", None, "staff")[1], finance=store.create("finance", None, "finance")[1],
        auditor=store.create("auditor", None, "auditor")[1], revoked=revoked,
    )


def workbook_bytes(rows: list[tuple[object, ...]], tmp: Path) -> bytes:
    """The campaign template with these rows (serial, type, date, site reference)."""
    path = tmp / "template.xlsx"
    write_template(path, make_terms())
    workbook = load_workbook(path)
    sheet = workbook["Appareils"]
    for number, row in enumerate(rows, start=2):
        for column, value in enumerate(row, start=1):
            sheet.cell(row=number, column=column, value=value)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
