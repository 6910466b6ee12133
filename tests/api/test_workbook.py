"""POST /v1/registrations/workbook: verdicts per row, and a clear 4xx for every bad file."""

from __future__ import annotations

import io
import re
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import Workbook

from adapters.http import create_app
from tests.api.portal_fixtures import FREE_ABROAD, FREE_SB3, SB3, Tokens, auth, make_engine, seed, workbook_bytes


def upload(client: TestClient, token: str, content: bytes, name: str = "appareils.xlsx"):  # type: ignore[no-untyped-def]
    return client.post("/v1/registrations/workbook", headers=auth(token),
                       files={"file": (name, content, "application/octet-stream")})


def test_every_row_gets_a_verdict_and_a_reupload_changes_nothing(client: TestClient, tokens: Tokens,
                                                                 tmp_path: Path) -> None:
    content = workbook_bytes([
        (FREE_SB3[0], SB3, "03/05/2026", "chantier 1"),
        (int(FREE_SB3[1]), SB3, "2026-05-03"),  # a serial typed as a number
        (FREE_ABROAD, SB3, "03/05/2026"),
        ("3008888888", SB3, "03/05/2026"),  # unknown serial
        (FREE_SB3[2], SB3, "31/02/2026"),  # impossible date
    ], tmp_path)
    response = upload(client, tokens.a, content)
    assert response.status_code == 200
    body = response.json()
    assert body["rows"] == 5
    rows = {v["row"]: v for v in body["verdicts"]}
    assert [rows[n]["status"] for n in range(2, 7)] == [
        "PAYMENT_PENDING", "PAYMENT_PENDING", "DOCS_REQUIRED", "REJECTED", "ERROR"]
    assert rows[5]["reason"] == "UNKNOWN_SERIAL" and rows[5]["message"] == "numéro de série inconnu (faute de frappe ?)"
    assert rows[6]["message"] == (
        "Date d'installation : '31/02/2026' n'est pas une date valide (attendu jj/mm/aaaa)")
    assert rows[2]["label"] == "Enregistrement réussi, paiement en attente"
    assert rows[6]["label"] == "Ligne invalide"
    assert re.fullmatch(r"documents à fournir au plus tard le \d\d/\d\d/\d{4} : facture ; motif : .+",
                        rows[4]["message"])
    assert body["counts"] == {"PAYMENT_PENDING": 2, "DOCS_REQUIRED": 1, "REJECTED": 1, "ERROR": 1}

    before = client.get("/v1/devices", headers=auth(tokens.a)).json()
    again = upload(client, tokens.a, content).json()
    assert again["upload_id"] == body["upload_id"]
    assert all(v["message"].startswith("déjà enregistré") for v in again["verdicts"] if v["status"] != "ERROR")
    assert {v["row"]: v["message"] for v in again["verdicts"]}[4] == "déjà enregistré ; " + rows[4]["message"]
    assert client.get("/v1/devices", headers=auth(tokens.a)).json() == before


def _problem(response, status: int, code: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code and body["status"] == status
    return str(body["detail"])


def test_bad_files_get_a_clear_4xx_naming_the_problem(client: TestClient, tokens: Tokens) -> None:
    detail = _problem(upload(client, tokens.a, b"serial;type;date\n123;SB3;01/05/2026\n"), 422, "not_a_workbook")
    assert "text/CSV" in detail
    _problem(upload(client, tokens.a, b"\x00\x01\x02binary garbage" * 20), 422, "not_a_workbook")
    _problem(upload(client, tokens.a, b""), 422, "empty_file")
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    encrypted = ole2 + b"\x00" * 512 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 64
    assert "password" in _problem(upload(client, tokens.a, encrypted), 422, "password_protected")

    other = Workbook()
    other.active.append(["Nom", "Prénom", "Téléphone"])  # type: ignore[union-attr]
    other.active.append(["Dupont", "Jean", "0600000000"])  # type: ignore[union-attr]
    out = io.BytesIO()
    other.save(out)
    assert "not the campaign template" in _problem(upload(client, tokens.a, out.getvalue()), 422, "not_the_template")

    missing = client.post("/v1/registrations/workbook", headers=auth(tokens.a))
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "file"


def test_too_many_rows_is_413(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "data", portal_max_workbook_rows=2)
    tokens = seed(engine)
    content = workbook_bytes([(s, SB3, "03/05/2026") for s in FREE_SB3[:3]], tmp_path)
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        detail = _problem(upload(client, tokens.a, content), 413, "too_many_rows")
        assert "more than 2" in detail
        assert client.get("/v1/devices", headers=auth(tokens.a)).json()["totals"]["count"] == 5  # nothing registered
    engine.close()


def test_verdicts_in_english_when_the_portal_language_is_english(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "data", language="en")
    tokens = seed(engine)
    content = workbook_bytes([(FREE_ABROAD, SB3, "03/05/2026"), (FREE_SB3[0], SB3, "31/02/2026"),
                              ("=1+1", SB3, "03/05/2026")], tmp_path)
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        rows = {v["row"]: v for v in upload(client, tokens.a, content).json()["verdicts"]}
        assert rows[2]["label"] == "Additional information required: please upload the file"
        assert re.fullmatch(r"documents needed by \d\d/\d\d/\d{4} at the latest: invoice; why: .+",
                            rows[2]["message"])
        assert rows[3]["message"] == "Date d'installation: '31/02/2026' is not a valid date (expected dd/mm/yyyy)"
        assert rows[4]["message"].startswith("Numéro de série: the cell holds a formula (=1+1), not a value")
        assert rows[4]["label"] == "Invalid row"
    engine.close()
