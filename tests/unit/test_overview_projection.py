"""The status overview as installers read it, built from the events by the projector."""

from __future__ import annotations

from pathlib import Path

from cashback.app import CashbackApp
from projections import queries
from projections.db import SQLiteProjectionDB
from projections.projector import Projector
from tests.unit.conftest import CAMPAIGN, ENROLLED, ENROLLED_TOO, PAYABLE_SB3
from tests.unit.test_app import intake


def _overview(app: CashbackApp, tmp_path: Path) -> SQLiteProjectionDB:
    db = SQLiteProjectionDB(tmp_path / "overview.sqlite")
    Projector(app, db).catch_up()
    return db


def test_the_real_installer_owns_a_serial_after_another_company_typo(app: CashbackApp, tmp_path: Path) -> None:
    app.register_batch([intake(PAYABLE_SB3, ENROLLED, device_type="HM-20")])
    app.register_batch([intake(PAYABLE_SB3, ENROLLED_TOO)])
    db = _overview(app, tmp_path)
    [theirs] = queries.overview(db, CAMPAIGN, ENROLLED_TOO)
    assert (theirs.serial, theirs.status, theirs.amount_cents) == (PAYABLE_SB3, "PAYMENT_PENDING", 5000)
    assert theirs.label() == "Enregistrement réussi, paiement en attente"
    [mine] = queries.overview(db, CAMPAIGN, ENROLLED)
    assert (mine.status, mine.reason, mine.amount_cents) == ("REJECTED", "TYPE_MISMATCH", 0)
    assert queries.totals(db, CAMPAIGN, ENROLLED_TOO).pending_cents == 5000
    assert queries.totals(db, CAMPAIGN, ENROLLED).pending_cents == 0
    assert queries.payment_queue(db, CAMPAIGN) == [str(app.get_registration(PAYABLE_SB3).id)]  # type: ignore[union-attr]


def test_a_second_claim_shows_as_rejected_to_the_claimant_only(app: CashbackApp, tmp_path: Path) -> None:
    app.register_batch([intake(PAYABLE_SB3, ENROLLED)])
    app.register_batch([intake(PAYABLE_SB3, ENROLLED_TOO)])
    db = _overview(app, tmp_path)
    [owner] = queries.overview(db, CAMPAIGN, ENROLLED)
    [claimant] = queries.overview(db, CAMPAIGN, ENROLLED_TOO)
    assert owner.status == "PAYMENT_PENDING"
    assert (claimant.status, claimant.reason) == ("REJECTED", "ALREADY_CLAIMED")
    assert "déjà enregistré par une autre entreprise" in claimant.reason_text()


def test_the_serial_search_is_literal_not_a_like_pattern(app: CashbackApp, tmp_path: Path) -> None:
    app.register_batch([intake(PAYABLE_SB3, ENROLLED)])
    db = _overview(app, tmp_path)

    def found(search: str) -> list[str]:
        rows = [r.serial for r in queries.overview(db, CAMPAIGN, ENROLLED, serial_search=search)]
        assert queries.count(db, CAMPAIGN, ENROLLED, serial_search=search) == len(rows)
        return rows

    for pattern in ("%", "_", "3%1", "3_01", "300!", "!%", "\\"):
        assert found(pattern) == [], pattern
    assert found("1000001") == found("3001000001") == found("3001") == [PAYABLE_SB3]


def test_the_overview_keeps_docs_required_until_every_needed_document_is_in(tmp_path: Path) -> None:
    from domain.provenance import Channel, Provenance
    from domain.terms import DocumentKind
    from projections.rebuild import check
    from tests.unit.conftest import SOLD_ABROAD, both_documents_terms, build_app

    app = build_app(terms=both_documents_terms())
    app.register_batch([intake(SOLD_ABROAD, ENROLLED)])
    db = SQLiteProjectionDB(tmp_path / "overview.sqlite")
    projector = Projector(app, db)
    by = Provenance("bob", Channel.MANUAL, "upload")

    app.record_upload(SOLD_ABROAD, DocumentKind.INVOICE, "a" * 64, 10, by)
    projector.catch_up()
    [row] = queries.overview(db, CAMPAIGN, ENROLLED)
    assert (row.status, row.deadline, row.documents) == ("DOCS_REQUIRED", "2026-06-15", "invoice,commissioning_report")
    assert row.label().startswith("Informations supplémentaires requises")
    assert queries.awaiting_review(db, CAMPAIGN) == []
    assert check(app, db).ok  # rebuilt from zero: the same rows

    app.record_upload(SOLD_ABROAD, DocumentKind.COMMISSIONING_REPORT, "b" * 64, 10, by)
    projector.catch_up()
    [row] = queries.overview(db, CAMPAIGN, ENROLLED)
    assert (row.status, row.label()) == ("DOCS_UPLOADED", "Documents reçus, vérification en cours")
    assert [serial for _, serial, _, _ in queries.awaiting_review(db, CAMPAIGN)] == [SOLD_ABROAD]
    assert check(app, db).ok
