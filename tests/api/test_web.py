"""The installers' web page through the ASGI app: session cookie, CSRF, forms, labels."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.portal_fixtures import A_DOCS, A_PAYABLE, FREE_SB3, SB3, Tokens, workbook_bytes

HTML = {"accept": "text/html"}
PDF = b"%PDF-1.4\n%%EOF\n"


def csrf_of(client: TestClient, path: str = "/") -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)
    assert match, path
    return match.group(1)


def login(client: TestClient, token: str) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"token": token, "csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/"


def test_login_sets_a_strict_httponly_cookie_and_logout_clears_it(client: TestClient, tokens: Tokens) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    page = client.get("/login")
    assert '<html lang="fr">' in page.text and 'name="viewport"' in page.text
    assert '<label for="token">' in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    wrong = client.post("/login", data={"token": "cbk_nope", "csrf_token": csrf}, follow_redirects=False)
    assert wrong.headers["location"] == "/login?error=invalid"
    assert "Jeton inconnu" in client.get("/login?error=invalid").text
    forged = client.post("/login", data={"token": tokens.a, "csrf_token": "forged"}, headers=HTML)
    assert forged.status_code == 403
    ok = client.post("/login", data={"token": tokens.a, "csrf_token": csrf}, follow_redirects=False)
    cookie = ok.headers["set-cookie"]
    assert "cashback_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace(
        "SameSite=Strict", "SameSite=strict")
    home = client.get("/")
    assert home.status_code == 200
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    assert home.headers["x-content-type-options"] == "nosniff" and home.headers["cache-control"] == "no-store"
    no_csrf = client.post("/logout", data={}, headers=HTML)
    assert no_csrf.status_code == 403
    out = client.post("/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_overview_shows_french_labels_colours_and_totals(client: TestClient, tokens: Tokens) -> None:
    login(client, tokens.a)
    page = client.get("/").text
    assert "Enregistrement réussi, paiement en attente" in page
    assert "Informations supplémentaires requises : téléchargez le fichier" in page
    assert "Enregistrement impossible – l&#39;appareil SB3.0-1AV-41 avec le numéro de série 3009999999" in page
    assert 'data-testid="pending">275,00 €' in page.replace("\u202f", "")
    assert 'data-testid="collected">0,00 €' in page
    assert "status-docs-required" in page and "status-pending" in page and "status-rejected" in page
    filtered = client.get("/", params={"status": "DOCS_REQUIRED"}).text
    assert A_DOCS in filtered and A_PAYABLE[0] not in filtered
    assert A_PAYABLE[2] in client.get("/", params={"q": A_PAYABLE[2][-4:]}).text
    css = client.get("/static/portal.css").text
    assert ":focus-visible" in css and "@media (max-width: 40rem)" in css


def test_register_form_shows_field_errors_and_the_outcome(client: TestClient, tokens: Tokens) -> None:
    login(client, tokens.a)
    csrf = csrf_of(client, "/register")
    bad = client.post("/register", data={"serial": "??", "device_type": SB3, "installed_on": "2026-05-03",
                                         "csrf_token": csrf})
    assert bad.status_code == 422 and 'id="serial-error"' in bad.text and 'aria-invalid="true"' in bad.text
    good = client.post("/register", data={"serial": FREE_SB3[4], "device_type": SB3, "installed_on": "03/05/2026",
                                          "csrf_token": csrf})
    assert good.status_code == 200 and "Enregistrement réussi, paiement en attente" in good.text
    forged = client.post("/register", data={"serial": FREE_SB3[3], "device_type": SB3, "installed_on": "2026-05-03",
                                            "csrf_token": "x" * 64}, headers=HTML)
    assert forged.status_code == 403
    assert FREE_SB3[3] not in client.get("/").text


def test_workbook_form_shows_one_verdict_per_row(client: TestClient, tokens: Tokens, tmp_path: Path) -> None:
    login(client, tokens.a)
    content = workbook_bytes([(FREE_SB3[0], SB3, "03/05/2026"), ("3008888888", SB3, "03/05/2026"),
                              (FREE_SB3[1], SB3, "31/02/2026")], tmp_path)
    csrf = csrf_of(client, "/workbook")
    page = client.post("/workbook", data={"csrf_token": csrf},
                       files={"file": ("appareils.xlsx", content, "application/octet-stream")}).text
    assert re.search(r'data-row="2".*?Paiement en attente', page, re.S)
    assert re.search(r'data-row="3".*?Refusé.*?UNKNOWN_SERIAL', page, re.S)
    assert re.search(r'data-row="4".*?Ligne invalide.*?31/02/2026', page, re.S)
    rejected = client.post("/workbook", data={"csrf_token": csrf},
                           files={"file": ("notes.xlsx", b"serial;type\n1;2\n", "application/octet-stream")})
    assert rejected.status_code == 422 and "ce n&#39;est pas un classeur Excel .xlsx : c&#39;est un fichier texte/CSV" \
        in rejected.text
    assert re.search(r'data-row="4".*?n&#39;est pas une date valide \(attendu jj/mm/aaaa\)', page, re.S)
    assert client.get("/template.xlsx").headers["content-type"].startswith("application/vnd.openxmlformats")


def test_document_upload_form(client: TestClient, tokens: Tokens) -> None:
    login(client, tokens.a)
    page = client.get(f"/devices/{A_DOCS}")
    assert 'enctype="multipart/form-data"' in page.text and '<label for="doc-file">' in page.text
    csrf = csrf_of(client, f"/devices/{A_DOCS}")
    done = client.post(f"/devices/{A_DOCS}/documents", data={"kind": "invoice", "csrf_token": csrf},
                       files={"file": ("facture.pdf", PDF, "application/pdf")})
    assert done.status_code == 200 and "Document reçu" in done.text
    assert "Documents reçus, vérification en cours" in done.text
    refused = client.post(f"/devices/{A_DOCS}/documents", data={"kind": "invoice", "csrf_token": csrf},
                          files={"file": ("facture.pdf", b"hello", "application/pdf")})
    assert refused.status_code == 415 and "PDF, JPEG or PNG" in refused.text


def test_web_page_is_for_installers(client: TestClient, tokens: Tokens) -> None:
    login(client, tokens.staff)
    response = client.get("/", headers=HTML)
    assert response.status_code == 403 and "réservé aux installateurs" in response.text


def test_errors_of_the_web_page_are_french_pages_with_a_way_back(client: TestClient, tokens: Tokens) -> None:
    from tests.api.portal_fixtures import B_PAYABLE

    login(client, tokens.a)
    for path, status, title in (("/?page=-5", 422, "Demande invalide"), ("/?page=abc", 422, "Demande invalide"),
                                (f"/devices/{B_PAYABLE[0]}", 404, "Page introuvable"),
                                ("/devices/%3F%3F", 404, "Page introuvable")):
        for headers in ({}, HTML, {"accept": "application/json"}):  # the route decides, not the Accept header
            page = client.get(path, headers=headers)
            assert page.status_code == status, (path, headers)
            assert page.headers["content-type"].startswith("text/html"), (path, headers)
            assert f"<h1>{title}</h1>" in page.text and '<a href="/">Retour à mes appareils</a>' in page.text
            assert "problem" not in page.text and B_PAYABLE[0] not in page.text
    assert "valeur invalide" in client.get("/?page=-5").text
    assert "pas enregistré par votre entreprise" in client.get(f"/devices/{B_PAYABLE[0]}").text
    forged = client.post("/register", data={"serial": FREE_SB3[3], "csrf_token": "x"})
    assert forged.status_code == 403 and "Le formulaire a expiré" in forged.text  # the page's own message

    # The API keeps its problems, even with the session cookie and a browser's Accept header.
    api = client.get(f"/v1/devices/{B_PAYABLE[0]}", headers={**HTML, "Authorization": f"Bearer {tokens.a}"})
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/problem+json")
    bad = client.get("/v1/devices", headers={**HTML, "Authorization": f"Bearer {tokens.a}"}, params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"


def test_the_device_page_says_which_document_is_still_missing(client: TestClient, tokens: Tokens) -> None:
    from tests.api.portal_fixtures import FREE_OLD_STOCK, auth

    registered = client.post("/v1/registrations", headers=auth(tokens.a),
                             json={"serial": FREE_OLD_STOCK, "device_type": SB3, "installed_on": "2026-05-03"})
    assert registered.json()["status"] == "DOCS_REQUIRED"
    login(client, tokens.a)
    csrf = csrf_of(client, f"/devices/{FREE_OLD_STOCK}")
    done = client.post(f"/devices/{FREE_OLD_STOCK}/documents", data={"kind": "invoice", "csrf_token": csrf},
                       files={"file": ("facture.pdf", PDF, "application/pdf")})
    assert done.status_code == 200 and "Document reçu (Facture)" in done.text
    assert "Documents reçus, vérification en cours" not in done.text
    assert "Informations supplémentaires requises" in done.text
    assert "Encore à fournir : Procès-verbal de mise en service." in done.text
    done = client.post(f"/devices/{FREE_OLD_STOCK}/documents",
                       data={"kind": "commissioning_report", "csrf_token": csrf},
                       files={"file": ("pv.pdf", PDF + b"% pv\n", "application/pdf")})
    assert "Documents reçus, vérification en cours" in done.text and "Encore à fournir" not in done.text


def test_a_workbook_over_the_upload_limit_is_refused_in_french(tmp_path: Path) -> None:
    from adapters.http import create_app
    from tests.api.portal_fixtures import make_engine, seed

    engine = make_engine(tmp_path / "data", portal_max_upload_bytes=2048)
    tokens = seed(engine)
    content = workbook_bytes([(FREE_SB3[0], SB3, "03/05/2026")], tmp_path)
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        login(client, tokens.a)
        page = client.post("/workbook", data={"csrf_token": csrf_of(client, "/workbook")},
                           files={"file": ("appareils.xlsx", content, "application/octet-stream")})
        assert page.status_code == 413
        assert "Fichier refusé : fichier trop volumineux : la limite est de 2 ko" in page.text
    engine.close()
