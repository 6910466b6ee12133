"""Workbook intake: verdicts in the portal language, with the status label and what a device needs."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import openpyxl

from cashback.excel_intake import ingest_workbook
from schemas.excel import HEADERS
from tests.unit.conftest import ENROLLED, PAYABLE_SB3, SB3, SOLD_ABROAD, UNKNOWN, build_app, make_terms

# Asked on 01/06/2026 (the tests' clock), 14 days to send them.
DEADLINE = "15/06/2026"


def workbook(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(HEADERS))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


ROWS = [
    [PAYABLE_SB3, SB3, date(2026, 5, 3)],
    [SOLD_ABROAD, SB3, date(2026, 5, 3)],
    [UNKNOWN, SB3, date(2026, 5, 3)],
    ["9" * 3000, SB3, "31/02/2026"],
]


def test_verdicts_in_french_with_labels_and_the_documents_a_device_needs() -> None:
    app = build_app()

    verdicts = ingest_workbook(app, workbook(ROWS), ENROLLED, actor="test").verdicts

    assert [(v.row_number, v.status) for v in verdicts] == [
        (2, "PAYMENT_PENDING"), (3, "DOCS_REQUIRED"), (4, "REJECTED"), (5, "ERROR")]
    assert [v.label for v in verdicts] == [
        "Enregistrement réussi, paiement en attente",
        "Informations supplémentaires requises : téléchargez le fichier",
        f"Enregistrement impossible – l'appareil {SB3} avec le numéro de série {UNKNOWN} n'est pas éligible au "
        "Cashback ou n'existe pas",
        "Ligne invalide",
    ]
    assert verdicts[0].message == ""
    assert verdicts[1].reason == "SOLD_IN_OTHER_COUNTRY"
    assert verdicts[1].message == (
        f"documents à fournir au plus tard le {DEADLINE} : facture "
        "; motif : l'appareil a été vendu dans un autre pays que celui de la campagne")
    assert verdicts[2].message == "numéro de série inconnu (faute de frappe ?)"
    assert verdicts[3].serial == "9" * 20 + "…"  # not 3000 digits
    assert verdicts[3].message == (
        "Numéro de série : '99999999999999999999…' (3000 caractères) doit comporter de 4 à 40 lettres ou chiffres"
        " ; Date d'installation : '31/02/2026' n'est pas une date valide (attendu jj/mm/aaaa)")


def test_a_reupload_reminds_the_documents_still_needed() -> None:
    app = build_app()
    content = workbook(ROWS[:2])
    ingest_workbook(app, content, ENROLLED, actor="test")

    again = ingest_workbook(app, content, ENROLLED, actor="test").verdicts

    assert [v.message for v in again] == [
        "déjà enregistré",
        f"déjà enregistré ; documents à fournir au plus tard le {DEADLINE} : facture "
        "; motif : l'appareil a été vendu dans un autre pays que celui de la campagne",
    ]


def test_every_document_and_every_reason_is_named() -> None:
    terms = make_terms(documents_rules=[
        {"code": "SOLD_IN_OTHER_COUNTRY", "kind": "sold_in_other_country", "documents": ["invoice"]},
        {"code": "OLD_STOCK", "kind": "produced_before", "before": "2025-12-01",
         "documents": ["invoice", "commissioning_report"]},
    ])
    app = build_app(terms=terms)

    (verdict,) = ingest_workbook(app, workbook([ROWS[1]]), ENROLLED, actor="test").verdicts

    assert verdict.reason == "SOLD_IN_OTHER_COUNTRY,OLD_STOCK"
    assert verdict.message == (
        f"documents à fournir au plus tard le {DEADLINE} : facture et procès-verbal de mise en service "
        "; motifs : l'appareil a été vendu dans un autre pays que celui de la campagne et l'appareil provient "
        "d'un stock ancien (fabriqué avant la date prévue par la campagne)")


def test_verdicts_in_english() -> None:
    app = build_app()

    verdicts = ingest_workbook(app, workbook(ROWS), ENROLLED, actor="test", language="en").verdicts

    assert [v.label for v in verdicts][:2] == [
        "Registration successful, payment pending", "Additional information required: please upload the file"]
    assert verdicts[1].message == (
        f"documents needed by {DEADLINE} at the latest: invoice; "
        "why: the device was sold in another country than the campaign's")
    assert verdicts[2].message == "unknown serial number (typo?)"
    assert verdicts[3].label == "Invalid row"
    assert verdicts[3].message == (
        "Numéro de série: '99999999999999999999…' (3000 characters) must be 4 to 40 letters or digits"
        "; Date d'installation: '31/02/2026' is not a valid date (expected dd/mm/yyyy)")
