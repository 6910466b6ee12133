"""What the installer reads in the document-request e-mail, in French (default) and English."""

from __future__ import annotations

from datetime import date

from cashback.mail_texts import render, rule_text
from tests.unit.conftest import make_terms

TERMS = make_terms(documents_rules=[
    {"code": "SOLD_IN_OTHER_COUNTRY", "kind": "sold_in_other_country", "documents": ["invoice"]},
    {"code": "OLD_STOCK", "kind": "produced_before", "before": date(2024, 9, 1),
     "documents": ["invoice", "commissioning_report"]},
    {"code": "PRE_SERIES", "kind": "produced_before", "before": date(2025, 1, 15), "documents": ["invoice"]},
])


def mail(language: str = "fr", reminder: bool = False, reasons: tuple[str, ...] = ("OLD_STOCK",)):  # type: ignore[no-untyped-def]
    return render(reminder=reminder, language=language, terms=TERMS, company="Soleil SARL",
                  device_type="STP10.0-3AV-40", serial="3663300762", documents=["invoice", "commissioning_report"],
                  reasons=list(reasons), deadline=date(2026, 4, 3), amount_cents=10000,
                  upload_url="https://cashback.example/documents")


def test_the_french_request_names_the_device_the_documents_the_reason_the_deadline_and_where_to_upload() -> None:
    text = mail()
    assert text.subject == "Cashback : documents requis pour l'appareil STP10.0-3AV-40 n° 3663300762"
    for expected in ("Bonjour Soleil SARL", "STP10.0-3AV-40", "3663300762", "  - facture\n",
                     "  - procès-verbal de mise en service\n", "stock ancien", "au plus tard le 03/04/2026",
                     "jusqu'à 23h59, heure de Paris", "https://cashback.example/documents", "100,00 €",
                     "PDF, JPEG ou PNG, 10 Mo"):
        assert expected in text.body, expected
    assert "OLD_STOCK" not in text.body, "rule codes are translated"


def test_the_english_request_when_the_language_is_english() -> None:
    text = mail("en", reasons=("SOLD_IN_OTHER_COUNTRY",))
    assert text.subject == "Cashback: documents needed for device STP10.0-3AV-40, serial 3663300762"
    for expected in ("  - invoice\n", "  - commissioning report\n", "sold in another country", "by 03/04/2026",
                     "23:59 Paris time", "https://cashback.example/documents"):
        assert expected in text.body, expected
    assert "facture" not in text.body


def test_the_reminder_says_it_is_a_reminder_with_the_deadline_in_the_subject() -> None:
    assert mail(reminder=True).subject.startswith("Rappel : documents à fournir avant le 03/04/2026")
    assert "pas encore reçu" in mail(reminder=True).body
    assert mail("en", reminder=True).subject.startswith("Reminder: documents needed by 03/04/2026")


def test_rule_codes_read_as_text_with_a_readable_fallback() -> None:
    assert rule_text("SOLD_IN_OTHER_COUNTRY") == "l'appareil a été vendu dans un autre pays que celui de la campagne"
    assert "old stock" in rule_text("OLD_STOCK", "en")
    # A code without a text of its own: its rule in the campaign terms says what it checks.
    assert rule_text("PRE_SERIES", "fr", TERMS) == "l'appareil a été fabriqué avant le 15/01/2025"
    assert rule_text("PRE_SERIES", "en", TERMS) == "the device was produced before 15/01/2025"
    # Unknown everywhere: still readable, never a bare code.
    assert rule_text("MANUAL_CHECK_2027", "fr") == "vérification complémentaire nécessaire (manual check 2027)"
    assert rule_text("MANUAL_CHECK_2027", "en") == "additional check needed (manual check 2027)"
