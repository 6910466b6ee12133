"""The README's documents scenario (scripts/documents_demo.sh) with its own SMTP server, and the
documents folder setting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path

from tests.e2e.conftest import ROOT, cashback_on_sqlite


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_one_device_paid_after_its_documents_one_expiring(tmp_path: Path) -> None:
    data = tmp_path / "docs-demo"
    env = {**os.environ, "CASHBACK_DATA_DIR": str(data), "CASHBACK_DEMO_SMTP_PORT": str(_free_port()),
           "BIN": str(Path(sys.executable).parent)}
    result = subprocess.run(["bash", str(ROOT / "scripts" / "documents_demo.sh")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "3277787633: PAYMENT_PENDING 50,00 € (approved by alice@maker.example)" in out
    assert "1 device(s) rejected (DOCS_NOT_PROVIDED)" in out
    assert "the upload window closed at the end of 24/06/2026" in result.stderr
    assert "not a PDF, JPEG or PNG" in result.stderr
    final = out.rsplit("status --company 100000", 1)[1]
    assert "PAYMENT_PENDING  1" in final and "REJECTED         1" in final

    mails = [message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(data.glob("mailbox/*.eml"))]
    assert len(mails) == 3  # two requests, one reminder; the second notifications pass sent nothing
    assert all(m["To"] == "contact@soleil-rennes.example" for m in mails)
    request = next(m for m in mails if "3277787633" in m["Subject"])
    body = request.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "facture" in body and "24/06/2026" in body and "SB3.0-1AV-41" in body
    assert "Rappel" in mails[-1]["Subject"] and "3663300762" in mails[-1]["Subject"]
    assert len({m["Message-ID"] for m in mails}) == 3


def test_uploads_land_in_the_configured_documents_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "archive" / "uploads"
    cb = cashback_on_sqlite(tmp_path / "data", now="2026-06-10T10:00:00+02:00",
                            env={"CASHBACK_DOCUMENTS_DIR": str(elsewhere)})

    cb("enrol", "--customer-no", "100000", "--name", "Soleil", "--email", "c@soleil.example",
       "--enrolled-on", "2026-02-01")
    cb("register", "--company", "100000", "--serial", "3277787633", "--type", "SB3.0-1AV-41",
       "--installed-on", "2026-06-02")
    invoice = tmp_path / "facture.pdf"
    invoice.write_bytes(b"%PDF-1.4\n% facture\n%%EOF\n")
    cb("documents", "upload", "3277787633", str(invoice), "--kind", "invoice")
    stored = [p for p in elsewhere.rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].suffix == ".pdf" and stored[0].read_bytes() == invoice.read_bytes()
    assert not (tmp_path / "data" / "documents").exists()
