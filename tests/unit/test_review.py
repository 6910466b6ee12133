"""Staff review of uploaded documents: the reviewer decides, and is recorded as the actor."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from adapters.documents import DocumentStore
from cashback.app import CashbackApp, Intake
from cashback.documents import DocumentsMissing, UnknownDevice, review, review_queue, upload_document
from domain.decision import RegistrationRequest
from domain.errors import TransitionNotAllowed
from domain.ids import registration_id
from domain.statuses import Reason, Status
from projections.db import SQLiteProjectionDB
from projections.projector import Projector
from tests.unit.conftest import CAMPAIGN, ENROLLED, ENROLMENTS, FEED, SB3, SOLD_ABROAD

PDF = b"%PDF-1.5\n% invoice\n%%EOF\n"


def uploaded(app: CashbackApp, tmp_path: Path) -> DocumentStore:
    request = RegistrationRequest(serial=SOLD_ABROAD, device_type=SB3, installed_on=date(2026, 5, 4),
                                  customer_no=ENROLLED)
    app.register_batch([Intake(request=request, by=FEED)])
    store = DocumentStore(tmp_path / "documents")
    upload_document(app, store, SOLD_ABROAD, "invoice", PDF, actor="bob@soleil.example")
    return store


def last_event(app: CashbackApp) -> object:
    return list(app.repository.event_store.get(registration_id(CAMPAIGN, SOLD_ABROAD)))[-1]


def test_the_review_queue_lists_what_each_device_received(app: CashbackApp, tmp_path: Path) -> None:
    store = uploaded(app, tmp_path)
    db = SQLiteProjectionDB(tmp_path / "overview.sqlite")
    Projector(app, db).catch_up()
    (item,) = review_queue(app, db, store)
    assert (item.customer_no, item.company, item.serial, item.device_type, item.amount_cents) == (
        ENROLLED, ENROLMENTS[0].name, SOLD_ABROAD, SB3, 5000)
    assert item.needed == ["invoice"] and item.reasons == ["SOLD_IN_OTHER_COUNTRY"]
    (received,) = item.received
    assert received["kind"] == "invoice" and received["media_type"] == "application/pdf"
    assert Path(received["path"]).read_bytes() == PDF


def test_approval_makes_the_device_payable_with_the_reviewer_as_actor(app: CashbackApp, tmp_path: Path) -> None:
    uploaded(app, tmp_path)
    registration = review(app, SOLD_ABROAD, "approve", "alice@maker.example")
    assert (registration.status, registration.amount_cents) == (Status.PAYMENT_PENDING, 5000)
    event = last_event(app)
    assert (type(event).__name__, event.actor, event.channel) == (  # type: ignore[attr-defined]
        "DocumentsApproved", "alice@maker.example", "staff")


def test_refusal_rejects_with_docs_refused_and_keeps_the_note(app: CashbackApp, tmp_path: Path) -> None:
    uploaded(app, tmp_path)
    registration = review(app, SOLD_ABROAD, "reject", "alice", note="facture d'un autre appareil")
    assert (registration.status, registration.reason) == (Status.REJECTED, Reason.DOCS_REFUSED)
    event = last_event(app)
    assert (event.reason, event.note, event.actor) == (  # type: ignore[attr-defined]
        "DOCS_REFUSED", "facture d'un autre appareil", "alice")


def test_only_devices_with_uploaded_documents_are_reviewed(app: CashbackApp) -> None:
    request = RegistrationRequest(serial=SOLD_ABROAD, device_type=SB3, installed_on=date(2026, 5, 4),
                                  customer_no=ENROLLED)
    app.register_batch([Intake(request=request, by=FEED)])
    for decision in ("approve", "reject"):
        with pytest.raises(TransitionNotAllowed, match="while DOCS_REQUIRED"):
            review(app, SOLD_ABROAD, decision, "alice", note="x")
    assert app.get_registration(SOLD_ABROAD).status == Status.DOCS_REQUIRED  # type: ignore[union-attr]
    with pytest.raises(UnknownDevice):
        review(app, "3009999990", "approve", "alice")


# --- two documents needed: review only once both are in -----------------------------------------------------

REPORT = b"%PDF-1.5\n% commissioning report\n%%EOF\n"


def two_documents_app() -> CashbackApp:
    from tests.unit.conftest import both_documents_terms, build_app

    return build_app(terms=both_documents_terms())


def test_a_device_missing_one_of_two_documents_is_not_in_the_review_queue(tmp_path: Path) -> None:
    app = two_documents_app()
    store = uploaded(app, tmp_path)  # the invoice only
    db = SQLiteProjectionDB(tmp_path / "overview.sqlite")
    projector = Projector(app, db)
    projector.catch_up()
    assert review_queue(app, db, store) == []
    (status,) = db.query("SELECT status FROM overview WHERE serial = %s", (SOLD_ABROAD,))[0]
    assert status == Status.DOCS_REQUIRED
    with pytest.raises(DocumentsMissing, match="documents still missing: commissioning_report") as refused:
        review(app, SOLD_ABROAD, "approve", "alice")
    assert refused.value.missing == ["commissioning_report"]

    result = upload_document(app, store, SOLD_ABROAD, "commissioning_report", REPORT, actor="bob@soleil.example")
    assert (result.status, result.missing) == (Status.DOCS_UPLOADED, [])
    projector.catch_up()
    (item,) = review_queue(app, db, store)
    assert item.needed == ["invoice", "commissioning_report"] and item.missing == []
    assert sorted(r["kind"] for r in item.received) == ["commissioning_report", "invoice"]
    assert review(app, SOLD_ABROAD, "approve", "alice").status == Status.PAYMENT_PENDING


def test_the_upload_says_what_is_still_missing(tmp_path: Path) -> None:
    app = two_documents_app()
    request = RegistrationRequest(serial=SOLD_ABROAD, device_type=SB3, installed_on=date(2026, 5, 4),
                                  customer_no=ENROLLED)
    app.register_batch([Intake(request=request, by=FEED)])
    result = upload_document(app, DocumentStore(tmp_path / "documents"), SOLD_ABROAD, "invoice", PDF, actor="bob")
    assert (result.recorded, result.status, result.missing) == (True, Status.DOCS_REQUIRED, ["commissioning_report"])


def test_a_document_already_received_may_be_refused_before_the_others_arrive(tmp_path: Path) -> None:
    app = two_documents_app()
    uploaded(app, tmp_path)  # the invoice only: an illegible one, say
    registration = review(app, SOLD_ABROAD, "reject", "alice", note="facture illisible")
    assert (registration.status, registration.reason) == (Status.REJECTED, Reason.DOCS_REFUSED)
