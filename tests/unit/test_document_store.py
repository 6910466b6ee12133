"""Uploaded files: recognised by content, limited in size, stored by sha256 under the root only."""

from __future__ import annotations

import hashlib
import os
from datetime import date
from pathlib import Path

import pytest

from adapters.documents import DocumentRejected, DocumentStore, detect_kind
from cashback.app import CashbackApp, Intake
from cashback.documents import UnknownDevice, UploadNotAllowed, upload_document
from domain.decision import RegistrationRequest
from domain.provenance import Channel
from domain.statuses import Status
from tests.unit.conftest import ENROLLED, ENROLLED_TOO, FEED, PAYABLE_SB3, SB3, SOLD_ABROAD

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64
TEXT = "Facture n° 42 — montant 1 200 €\n".encode()


def files_under(path: Path) -> set[Path]:
    return {p for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("content", "kind"), [(PDF, "pdf"), (JPEG, "jpeg"), (PNG, "png")])
def test_pdf_jpeg_and_png_are_recognised_by_their_first_bytes(content: bytes, kind: str) -> None:
    assert detect_kind(content) == kind


@pytest.mark.parametrize(
    ("content", "hint"),
    [(TEXT, "text file"), (EXE, "Windows program"), (b"PK\x03\x04rest", "ZIP"), (b"%PD", "")],
)
def test_anything_else_is_rejected_as_not_a_pdf_jpeg_or_png(content: bytes, hint: str) -> None:
    with pytest.raises(DocumentRejected, match="not a PDF, JPEG or PNG") as caught:
        detect_kind(content)
    assert caught.value.code == "unsupported_type"
    assert hint in caught.value.reason


@pytest.mark.parametrize(
    ("content", "media_type", "ext"),
    [(PDF, "application/pdf", "pdf"), (JPEG, "image/jpeg", "jpg"), (PNG, "image/png", "png")],
)
def test_a_good_file_is_stored_under_its_sha256(tmp_path: Path, content: bytes, media_type: str, ext: str) -> None:
    store = DocumentStore(tmp_path / "documents", max_bytes=1024 * 1024)
    stored = store.store(content)
    sha = hashlib.sha256(content).hexdigest()
    assert stored.path == tmp_path / "documents" / sha[:2] / sha[2:4] / f"{sha}.{ext}"
    assert stored.path.read_bytes() == content
    assert (stored.sha256, stored.size, stored.media_type, stored.created) == (sha, len(content), media_type, True)
    assert files_under(tmp_path) == {stored.path}, "no temporary file is left behind"


def test_a_png_named_pdf_is_stored_as_png(tmp_path: Path) -> None:
    upload = tmp_path / "facture.pdf"
    upload.write_bytes(PNG)
    stored = DocumentStore(tmp_path / "documents").store(upload.read_bytes())
    assert stored.path.suffix == ".png"
    assert stored.media_type == "image/png"


@pytest.mark.parametrize("content", [TEXT, EXE], ids=["text", "exe"])
def test_a_text_file_or_a_program_named_pdf_is_rejected_and_nothing_is_written(tmp_path: Path, content: bytes) -> None:
    upload = tmp_path / "uploads" / "facture.pdf"
    upload.parent.mkdir()
    upload.write_bytes(content)
    store = DocumentStore(tmp_path / "documents")
    with pytest.raises(DocumentRejected, match="not a PDF, JPEG or PNG"):
        store.store(upload.read_bytes())
    assert files_under(tmp_path) == {upload}


def test_a_file_over_the_limit_is_rejected_naming_the_limit(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")  # default: 10 MiB
    content = PDF + b"0" * (10 * 1024 * 1024)
    with pytest.raises(DocumentRejected, match=r"larger than the limit of 10 MiB \(10485760 bytes\)") as caught:
        store.store(content)
    assert caught.value.code == "too_large"
    assert not (tmp_path / "documents").exists()
    exactly = PDF + b"0" * (10 * 1024 * 1024 - len(PDF))
    assert store.store(exactly).size == 10 * 1024 * 1024


def test_a_smaller_configured_limit_is_named_in_bytes(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents", max_bytes=1000)
    with pytest.raises(DocumentRejected, match="larger than the limit of 1000 bytes"):
        store.validate(PDF + b"x" * 1000)


def test_an_empty_file_is_rejected(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    with pytest.raises(DocumentRejected, match="empty") as caught:
        store.store(b"")
    assert caught.value.code == "empty"
    with pytest.raises(DocumentRejected, match="empty"):
        detect_kind(b"")
    assert not (tmp_path / "documents").exists()


def test_validate_checks_without_writing(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    info = store.validate(JPEG)
    assert (info.type, info.media_type, info.size) == ("jpeg", "image/jpeg", len(JPEG))
    assert not (tmp_path / "documents").exists()


def test_the_same_content_twice_is_one_file(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    first, second = store.store(PDF), store.store(PDF)
    assert first.path == second.path
    assert (first.created, second.created) == (True, False)
    assert len(files_under(tmp_path)) == 1


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DocumentStore(tmp_path / "documents")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        store.store(PDF)
    assert files_under(tmp_path) == set()


def test_find_returns_the_stored_file_and_ignores_anything_but_a_sha256(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path / "documents")
    stored = store.store(PNG)
    found = store.find(stored.sha256)
    assert found is not None and found.path == stored.path and found.media_type == "image/png"
    assert store.find("../../etc/passwd") is None
    assert store.find("0" * 64) is None


# --- upload_document: the function the CLI and the portal call --------------------------------


def docs_required(app: CashbackApp, serial: str = SOLD_ABROAD) -> None:
    request = RegistrationRequest(serial=serial, device_type=SB3, installed_on=date(2026, 5, 4),
                                  customer_no=ENROLLED)
    app.register_batch([Intake(request=request, by=FEED)])


def test_upload_records_the_document_and_the_device_waits_for_review(app: CashbackApp, tmp_path: Path) -> None:
    docs_required(app)
    store = DocumentStore(tmp_path / "documents")
    result = upload_document(app, store, "3001-000-004", "invoice", PDF, actor="bob@soleil.example",
                             channel=Channel.MANUAL)
    assert (result.serial, result.status, result.recorded, result.media_type) == (
        SOLD_ABROAD, Status.DOCS_UPLOADED, True, "application/pdf")
    registration = app.get_registration(SOLD_ABROAD)
    assert registration is not None
    assert registration.uploads == [{"kind": "invoice", "sha256": result.sha256, "size": len(PDF)}]
    again = upload_document(app, store, SOLD_ABROAD, "invoice", PDF, actor="bob@soleil.example")
    assert again.recorded is False
    assert len(app.get_registration(SOLD_ABROAD).uploads) == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["../../x.pdf", "..\\..\\x.pdf", "/etc/passwd", "..", "a\x00.pdf", "f\n.pdf", " "])
def test_a_sent_name_with_a_path_is_refused_and_nothing_is_stored(app: CashbackApp, tmp_path: Path, name: str) -> None:
    docs_required(app)
    with pytest.raises(DocumentRejected, match="name") as refused:
        upload_document(app, DocumentStore(tmp_path / "documents"), SOLD_ABROAD, "invoice", PNG, actor="bob",
                        filename=name)
    assert refused.value.code == "bad_name"
    assert files_under(tmp_path) == set()
    assert app.get_registration(SOLD_ABROAD).status == Status.DOCS_REQUIRED  # type: ignore[union-attr]


def test_a_user_file_name_never_chooses_where_the_file_lands(app: CashbackApp, tmp_path: Path) -> None:
    docs_required(app)
    root = tmp_path / "data" / "documents"
    result = upload_document(app, DocumentStore(root), SOLD_ABROAD, "invoice", PNG, actor="bob",
                             filename="x.pdf")
    assert result.path.parent.parent.parent == root
    assert result.path.name == f"{result.sha256}.png"
    assert files_under(tmp_path) == {result.path}
    assert not (tmp_path / "x.pdf").exists()


def test_bad_content_is_refused_before_anything_is_recorded_or_stored(app: CashbackApp, tmp_path: Path) -> None:
    docs_required(app)
    store = DocumentStore(tmp_path / "documents")
    with pytest.raises(DocumentRejected):
        upload_document(app, store, SOLD_ABROAD, "invoice", EXE, actor="bob", filename="facture.pdf")
    assert app.get_registration(SOLD_ABROAD).status == Status.DOCS_REQUIRED  # type: ignore[union-attr]
    assert files_under(tmp_path) == set()


def test_upload_for_a_device_not_waiting_for_documents_is_refused_and_nothing_stored(
    app: CashbackApp, tmp_path: Path
) -> None:
    request = RegistrationRequest(serial=PAYABLE_SB3, device_type=SB3,
                                  installed_on=date(2026, 5, 4), customer_no=ENROLLED)
    app.register_batch([Intake(request=request, by=FEED)])
    store = DocumentStore(tmp_path / "documents")
    with pytest.raises(UploadNotAllowed, match=f"device {SB3} {PAYABLE_SB3}: documents cannot be uploaded — no "
                                               "documents are needed"):
        upload_document(app, store, PAYABLE_SB3, "invoice", PDF, actor="bob")
    with pytest.raises(UnknownDevice, match="not registered"):
        upload_document(app, store, "3009999998", "invoice", PDF, actor="bob")
    assert files_under(tmp_path) == set()


def test_another_company_cannot_upload_for_a_device_it_does_not_own(app: CashbackApp, tmp_path: Path) -> None:
    docs_required(app)
    store = DocumentStore(tmp_path / "documents")
    with pytest.raises(UnknownDevice, match=f"for company {ENROLLED_TOO}"):
        upload_document(app, store, SOLD_ABROAD, "invoice", PDF, actor="eve", customer_no=ENROLLED_TOO)
    assert files_under(tmp_path) == set()
    assert upload_document(app, store, SOLD_ABROAD, "invoice", PDF, actor="bob", customer_no=ENROLLED).recorded


def test_a_file_stored_while_the_domain_refuses_is_removed(
    app: CashbackApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state changed between the check and the save (e.g. the deadline worker won): no orphan file."""
    docs_required(app)
    store = DocumentStore(tmp_path / "documents")
    real_record = app.record_upload

    def expire_first(*args: object, **kwargs: object) -> bool:
        app.clock.advance(days=30)  # type: ignore[attr-defined]
        app.expire([app.get_registration(SOLD_ABROAD).id], FEED)  # type: ignore[union-attr]
        return real_record(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(app, "record_upload", expire_first)
    with pytest.raises(UploadNotAllowed, match=r"the registration is rejected \(DOCS_NOT_PROVIDED"):
        upload_document(app, store, SOLD_ABROAD, "invoice", PDF, actor="bob")
    assert files_under(tmp_path) == set()
