"""A device that needs two documents (old stock: invoice and commissioning report) waits for both.

Through the `cashback` command on the embedded default (SQLite), with the example campaign and catalog:
the first upload is recorded but the device stays DOCS_REQUIRED, out of the staff's review; the second one
sends it to review; approval makes it payable. The projection rebuilt from zero matches the live one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, Cashback, cashback_on_sqlite

COMPANY = "100000"
OLD_STOCK = "3663300762"  # STP10.0-3AV-40 produced 2024-07-15: OLD_STOCK, invoice + commissioning report
ASKED = "2026-06-10T10:00:00+02:00"


@pytest.fixture
def cb(tmp_path: Path) -> Cashback:
    run = cashback_on_sqlite(tmp_path / "data", now=ASKED, env={"CASHBACK_LANGUAGE": "fr"})
    run("enrol", str(ROOT / "examples/companies.csv"))
    return run


def _row(cb, now: str) -> dict:  # type: ignore[no-untyped-def]
    rows = json.loads(cb("status", "--company", COMPANY, "--format", "json", now=now).stdout)["rows"]
    (row,) = [r for r in rows if r["serial"] == OLD_STOCK]
    return row  # type: ignore[no-any-return]


def _review(cb, now: str) -> list[dict]:  # type: ignore[no-untyped-def]
    return json.loads(cb("review", "list", "--format", "json", now=now).stdout)  # type: ignore[no-any-return]


def test_one_of_two_documents_keeps_docs_required_the_second_sends_to_review(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    registered = cb("register", "--company", COMPANY, "--serial", OLD_STOCK, "--type", "STP10.0-3AV-40",
                    "--installed-on", "2026-06-03")
    assert "DOCS_REQUIRED" in registered.stdout
    invoice = tmp_path / "facture.pdf"
    invoice.write_bytes(b"%PDF-1.4\n% Facture 2026-0412\n%%EOF\n")
    report = tmp_path / "pv.pdf"
    report.write_bytes(b"%PDF-1.4\n% PV de mise en service\n%%EOF\n")

    # 20 June: the invoice alone — recorded, but the device still waits for the commissioning report
    day = "2026-06-20T09:00:00+02:00"
    first = cb("documents", "upload", OLD_STOCK, str(invoice), "--kind", "invoice", now=day)
    assert "facture received" in first.stdout
    assert "status DOCS_REQUIRED; still missing: procès-verbal de mise en service" in first.stdout
    row = _row(cb, day)
    assert (row["status"], row["deadline"]) == ("DOCS_REQUIRED", "2026-06-24")
    assert row["label"] == "Informations supplémentaires requises : téléchargez le fichier"
    table = cb("status", "--company", COMPANY, now=day).stdout
    assert f"{OLD_STOCK}" in table and "Documents reçus" not in table
    assert _review(cb, day) == []
    assert "0 device(s) waiting for review" in cb("review", "list", now=day).stdout
    refused = cb("review", "approve", OLD_STOCK, "--reviewer", "alice@maker.example", now=day, code=2)
    assert "still missing: procès-verbal de mise en service" in refused.stderr
    history = cb("audit", "history", OLD_STOCK, "--format", "json", now=day).stdout
    events = [(e["kind"], e["status_after"]) for e in json.loads(history)["events"]]
    assert events[-1] == ("DocumentUploaded", "DOCS_REQUIRED")
    assert "same as a rebuild from zero" in cb("projections", "check", now=day).stdout

    # the commissioning report completes the documents: under review, then approved → PAYMENT_PENDING
    second = cb("documents", "upload", OLD_STOCK, str(report), "--kind", "commissioning_report", now=day)
    assert "status DOCS_UPLOADED" in second.stdout and "still missing" not in second.stdout
    row = _row(cb, day)
    assert (row["status"], row["label"]) == ("DOCS_UPLOADED", "Documents reçus, vérification en cours")
    (item,) = _review(cb, day)
    assert item["serial"] == OLD_STOCK and item["needed"] == ["invoice", "commissioning_report"]
    assert sorted(r["kind"] for r in item["received"]) == ["commissioning_report", "invoice"] and not item["missing"]
    listed = cb("review", "list", now=day).stdout
    assert "1 device(s) waiting for review" in listed and OLD_STOCK in listed
    assert "same as a rebuild from zero" in cb("projections", "check", now=day).stdout

    approved = cb("review", "approve", OLD_STOCK, "--reviewer", "alice@maker.example",
                  now="2026-06-20T14:00:00+02:00")
    assert "PAYMENT_PENDING" in approved.stdout
    assert _row(cb, "2026-06-20T14:01:00+02:00")["status"] == "PAYMENT_PENDING"
    assert "same as a rebuild from zero" in cb("projections", "check", now="2026-06-20T14:01:00+02:00").stdout


def test_a_device_still_missing_a_document_expires_at_its_deadline(cb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cb("register", "--company", COMPANY, "--serial", OLD_STOCK, "--type", "STP10.0-3AV-40",
       "--installed-on", "2026-06-03")
    invoice = tmp_path / "facture.pdf"
    invoice.write_bytes(b"%PDF-1.4\n% Facture\n%%EOF\n")
    cb("documents", "upload", OLD_STOCK, str(invoice), "--kind", "invoice", now="2026-06-20T09:00:00+02:00")
    cb("worker", "deadlines", "--once", now="2026-06-24T23:59:00+02:00")
    assert _row(cb, "2026-06-24T23:59:30+02:00")["status"] == "DOCS_REQUIRED"  # the deadline day is included
    cb("worker", "deadlines", "--once", now="2026-06-25T00:01:00+02:00")
    row = _row(cb, "2026-06-25T09:00:00+02:00")
    assert (row["status"], row["reason"]) == ("REJECTED", "DOCS_NOT_PROVIDED")
