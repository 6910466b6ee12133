"""decide(): is the cashback owed for this device, on these terms, today?"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic import ValidationError

from domain.catalog import CatalogEntry
from domain.decision import Decision, RegistrationRequest, decide
from domain.enrolment import Enrolment
from domain.registration import REOPENING_REASONS
from domain.statuses import Reason, Status, reason_text
from domain.terms import CampaignTerms, DocumentKind
from tests.unit.conftest import SB3, SB5, TODAY, make_terms

INVOICE = DocumentKind.INVOICE
REPORT = DocumentKind.COMMISSIONING_REPORT

COMPANY = Enrolment(customer_no="C100", name="Soleil", contact_email="a@soleil.example", enrolled_on=date(2026, 1, 5))
ENTRY = CatalogEntry("3001000001", SB3, date(2025, 11, 3), "FR")
REQUEST = RegistrationRequest(serial="3001000001", device_type=SB3, installed_on=date(2026, 5, 4), customer_no="C100")


def plain_terms(**overrides: Any) -> CampaignTerms:
    """The campaign without any documents rule."""
    return make_terms(**{"documents_rules": [], **overrides})


def run(
    request: RegistrationRequest = REQUEST,
    entry: CatalogEntry | None = ENTRY,
    terms: CampaignTerms | None = None,
    enrolment: Enrolment | None = COMPANY,
    today: date = TODAY,
) -> Decision:
    return decide(request, entry, terms or plain_terms(), enrolment, today)


def installed(on: date) -> RegistrationRequest:
    return RegistrationRequest(REQUEST.serial, REQUEST.device_type, on, REQUEST.customer_no)


# --- the happy path ---------------------------------------------------------------


def test_eligible_device_is_payment_pending_with_the_amount_of_its_type_in_cents() -> None:
    decision = run()
    assert decision.status is Status.PAYMENT_PENDING
    assert decision.amount_cents == 5000
    assert decision.reason is None
    assert decision.doc_reasons == () and decision.documents == ()


def test_amount_follows_the_terms_not_the_code() -> None:
    entry = CatalogEntry("3001000002", SB5, date(2025, 12, 1), "FR")
    request = RegistrationRequest("3001000002", SB5, date(2026, 5, 4), "C100")
    assert run(request, entry).amount_cents == 7500
    richer = plain_terms(eligible_types=[{"device_type": SB5, "category": "inverter", "amount_cents": 12345}])
    assert run(request, entry, richer).amount_cents == 12345


def test_device_type_spelling_does_not_matter() -> None:
    request = RegistrationRequest(REQUEST.serial, "sb 3.0\u20131av-41", REQUEST.installed_on, REQUEST.customer_no)
    assert run(request).status is Status.PAYMENT_PENDING


# --- rejections, one per reason code ------------------------------------------------


def test_company_not_enrolled_is_rejected() -> None:
    assert run(enrolment=None) == Decision.rejected(Reason.COMPANY_NOT_ENROLLED)


def test_company_enrolled_after_today_is_rejected_no_retroactive_transfer() -> None:
    later = COMPANY.model_copy(update={"enrolled_on": date(2026, 6, 2)})
    assert run(enrolment=later).reason is Reason.COMPANY_NOT_ENROLLED
    same_day = COMPANY.model_copy(update={"enrolled_on": TODAY})
    assert run(enrolment=same_day).status is Status.PAYMENT_PENDING


def test_registration_on_the_deadline_day_is_accepted_the_day_after_rejected() -> None:
    deadline = date(2027, 1, 31)
    assert run(today=deadline).status is Status.PAYMENT_PENDING
    late = run(today=date(2027, 2, 1))
    assert late.status is Status.REJECTED
    assert late.reason is Reason.REGISTERED_LATE


def test_serial_the_maker_never_produced_is_rejected() -> None:
    assert run(entry=None) == Decision.rejected(Reason.UNKNOWN_SERIAL)


def test_serial_of_another_device_type_is_rejected() -> None:
    request = RegistrationRequest(REQUEST.serial, SB5, REQUEST.installed_on, REQUEST.customer_no)
    assert run(request) == Decision.rejected(Reason.TYPE_MISMATCH)


def test_device_type_outside_the_campaign_is_rejected() -> None:
    entry = CatalogEntry("3001000005", "SMC6000A", date(2025, 10, 1), "FR")
    request = RegistrationRequest("3001000005", "SMC6000A", date(2026, 5, 4), "C100")
    assert run(request, entry) == Decision.rejected(Reason.TYPE_NOT_ELIGIBLE)


@pytest.mark.parametrize(
    ("installed_on", "why"),
    [
        (date(2026, 2, 28), "the day before the installation window"),
        (date(2027, 1, 1), "the day after the installation window"),
        (date(2026, 3, 1), "installed before the device was produced"),
    ],
)
def test_installation_outside_the_validity_period_is_rejected(installed_on: date, why: str) -> None:
    entry = ENTRY
    if "produced" in why:
        entry = CatalogEntry(ENTRY.serial, SB3, date(2026, 3, 2), "FR")
    today = date(2027, 1, 15) if "after" in why else TODAY
    decision = run(installed(installed_on), entry, today=today)
    assert decision == Decision.rejected(Reason.OUTSIDE_VALIDITY_PERIOD), why


def test_an_installation_date_in_the_future_is_named_as_such() -> None:
    """Inside the campaign window but after today: a typo the installer can fix (the serial stays free)."""
    decision = run(installed(date(2026, 6, 2)), today=TODAY)
    assert decision == Decision.rejected(Reason.INSTALLED_IN_FUTURE)
    assert reason_text(decision.reason, "fr") == "date d'installation dans le futur (faute de frappe ?)"
    assert Reason.INSTALLED_IN_FUTURE in REOPENING_REASONS


def test_installation_on_the_first_and_last_day_of_the_window_is_accepted() -> None:
    first = CatalogEntry(ENTRY.serial, SB3, date(2026, 3, 1), "FR")
    assert run(installed(date(2026, 3, 1)), first).status is Status.PAYMENT_PENDING
    assert run(installed(date(2026, 12, 31)), today=date(2027, 1, 31)).status is Status.PAYMENT_PENDING


def test_installation_on_the_production_day_and_today_is_accepted() -> None:
    entry = CatalogEntry(ENTRY.serial, SB3, TODAY, "FR")
    assert run(installed(TODAY), entry).status is Status.PAYMENT_PENDING


def test_checks_run_in_the_order_the_installer_can_fix_them() -> None:
    # Not enrolled wins over everything else, late registration over an unknown serial.
    assert run(entry=None, enrolment=None, today=date(2027, 3, 1)).reason is Reason.COMPANY_NOT_ENROLLED
    assert run(entry=None, today=date(2027, 3, 1)).reason is Reason.REGISTERED_LATE


# --- documents required ---------------------------------------------------------------


def rule(code: str, kind: str, documents: list[str], **parameters: Any) -> dict[str, Any]:
    return {"code": code, "kind": kind, "documents": documents, **parameters}


@pytest.mark.parametrize(
    ("documents_rule", "entry", "installed_on"),
    [
        (
            rule("SOLD_ABROAD", "sold_in_other_country", ["invoice"]),
            CatalogEntry(ENTRY.serial, SB3, date(2025, 11, 3), "DE"),
            date(2026, 5, 4),
        ),
        (
            rule("OLD_STOCK", "produced_before", ["invoice"], before=date(2025, 12, 1)),
            CatalogEntry(ENTRY.serial, SB3, date(2025, 11, 30), "FR"),
            date(2026, 5, 4),
        ),
        (
            rule("LONG_IN_STOCK", "installed_long_after_production", ["invoice"], days=180),
            CatalogEntry(ENTRY.serial, SB3, date(2025, 11, 3), "FR"),
            date(2026, 5, 3),  # 181 days after production
        ),
        (
            rule("BIG_INVERTER", "device_type_in", ["invoice"], device_types=["sb 3.0-1av-41"]),
            ENTRY,
            date(2026, 5, 4),
        ),
    ],
    ids=["sold_in_other_country", "produced_before", "installed_long_after_production", "device_type_in"],
)
def test_each_documents_rule_asks_for_its_documents(
    documents_rule: dict[str, Any], entry: CatalogEntry, installed_on: date
) -> None:
    terms = plain_terms(documents_rules=[documents_rule])
    decision = run(installed(installed_on), entry, terms)
    assert decision.status is Status.DOCS_REQUIRED
    assert decision.doc_reasons == (documents_rule["code"],)
    assert decision.documents == (INVOICE,)
    assert decision.amount_cents == 5000  # what will be paid once the documents are approved
    assert decision.reason is None


@pytest.mark.parametrize(
    ("documents_rule", "entry", "installed_on"),
    [
        (rule("SOLD_ABROAD", "sold_in_other_country", ["invoice"]), ENTRY, date(2026, 5, 4)),
        (
            rule("OLD_STOCK", "produced_before", ["invoice"], before=date(2025, 11, 3)),
            ENTRY,  # produced exactly on the 'before' date
            date(2026, 5, 4),
        ),
        (
            rule("LONG_IN_STOCK", "installed_long_after_production", ["invoice"], days=180),
            ENTRY,
            date(2026, 5, 2),  # exactly 180 days later
        ),
        (rule("BIG_INVERTER", "device_type_in", ["invoice"], device_types=[SB5]), ENTRY, date(2026, 5, 4)),
    ],
    ids=["sold_in_campaign_country", "produced_on_cutoff", "installed_on_day_limit", "other_type"],
)
def test_documents_rule_that_does_not_apply_leaves_the_device_payable(
    documents_rule: dict[str, Any], entry: CatalogEntry, installed_on: date
) -> None:
    terms = plain_terms(documents_rules=[documents_rule])
    assert run(installed(installed_on), entry, terms).status is Status.PAYMENT_PENDING


def test_several_rules_list_every_reason_and_each_document_once() -> None:
    terms = plain_terms(
        documents_rules=[
            rule("SOLD_ABROAD", "sold_in_other_country", ["invoice"]),
            rule("OLD_STOCK", "produced_before", ["invoice", "commissioning_report"], before=date(2026, 1, 1)),
            rule("BIG_INVERTER", "device_type_in", ["commissioning_report", "invoice"], device_types=[SB3]),
            rule("NEVER", "device_type_in", ["commissioning_report"], device_types=[SB5]),
        ]
    )
    entry = CatalogEntry(ENTRY.serial, SB3, date(2025, 11, 3), "BE")
    decision = run(entry=entry, terms=terms)
    assert decision.status is Status.DOCS_REQUIRED
    assert decision.doc_reasons == ("SOLD_ABROAD", "OLD_STOCK", "BIG_INVERTER")
    assert decision.documents == (INVOICE, REPORT)


def test_rejection_wins_over_documents() -> None:
    terms = plain_terms(documents_rules=[rule("SOLD_ABROAD", "sold_in_other_country", ["invoice"])])
    abroad = CatalogEntry(ENTRY.serial, SB3, date(2025, 11, 3), "DE")
    assert run(installed(date(2027, 1, 2)), abroad, terms, today=date(2027, 1, 5)).status is Status.REJECTED


# --- campaign terms validation ----------------------------------------------------------


def terms_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "fr-2026",
        "name": "Cashback",
        "country": "FR",
        "installation_from": "2026-03-01",
        "installation_to": "2026-12-31",
        "registration_deadline": "2027-01-31",
        "eligible_types": [{"device_type": SB3, "category": "inverter", "amount_cents": 5000}],
    }
    data.update(overrides)
    return data


def test_valid_campaign_file_is_accepted_with_defaults() -> None:
    terms = CampaignTerms.model_validate(terms_data())
    assert terms.document_window_days == 14
    assert terms.currency == "EUR"
    assert terms.amount_for("sb 3.0-1av-41") == 5000
    assert terms.amount_for("SB5.0-1AV-41") is None


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"installation_to": "2026-02-01"}, "installation_to is before installation_from"),
        ({"registration_deadline": "2026-02-01"}, "registration_deadline is before installation_from"),
        (
            {
                "eligible_types": [
                    {"device_type": SB3, "category": "inverter", "amount_cents": 5000},
                    {"device_type": "sb 3.0-1av-41", "category": "inverter", "amount_cents": 6000},
                ]
            },
            "listed twice",
        ),
        ({"eligible_types": [{"device_type": SB3, "category": "inverter", "amount_cents": -100}]}, "amount_cents"),
        ({"eligible_types": [{"device_type": SB3, "category": "inverter", "amount_cents": 0}]}, "amount_cents"),
        ({"eligible_types": [{"device_type": "  ", "category": "inverter", "amount_cents": 100}]}, "device_type"),
        ({"eligible_types": []}, "eligible_types"),
        ({"documents_rules": [rule("OLD_STOCK", "produced_before", ["invoice"])]}, "needs 'before'"),
        (
            {"documents_rules": [rule("LONG", "installed_long_after_production", ["invoice"])]},
            "needs 'days'",
        ),
        ({"documents_rules": [rule("TYPES", "device_type_in", ["invoice"])]}, "needs 'device_types'"),
        ({"documents_rules": [rule("LONG", "installed_long_after_production", ["invoice"], days=0)]}, "days"),
        ({"documents_rules": [rule("NO_DOCS", "sold_in_other_country", [])]}, "documents"),
        ({"documents_rules": [rule("SCAN", "sold_in_other_country", ["photo"])]}, "documents"),
        ({"documents_rules": [rule("ABROAD", "sold_on_the_moon", ["invoice"])]}, "kind"),
        ({"document_window_days": 0}, "document_window_days"),
        ({"country": "France"}, "country"),
        ({"amount": 5000}, "amount"),  # unknown keys are typos, not silently ignored
    ],
)
def test_bad_campaign_file_is_refused_naming_the_problem(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as raised:
        CampaignTerms.model_validate(terms_data(**overrides))
    assert words in str(raised.value)


def test_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        CampaignTerms.model_validate(terms_data(timezone="Mars/Olympus"))
