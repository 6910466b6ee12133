"""The installer's web page in a real browser: log in, read the overview, upload a workbook and a document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.api.portal_fixtures import A_DOCS, A_PAYABLE, COMPANY_B, FREE_SB3, SB3, workbook_bytes
from tests.browser.conftest import Server, log_in

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_log_in_and_read_the_overview(page: Any, server: Server, artifacts: Path) -> None:
    page.goto(f"{server.url}/")
    expect(page).to_have_url(f"{server.url}/login")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    log_in(page, server, server.tokens.a)

    expect(page.get_by_role("heading", name="Mes appareils")).to_be_visible()
    expect(page.get_by_text("Enregistrement réussi, paiement en attente").first).to_be_visible()
    expect(page.get_by_text("Informations supplémentaires requises : téléchargez le fichier")).to_be_visible()
    expect(page.get_by_text("Enregistrement impossible – l'appareil SB3.0-1AV-41 avec le numéro de série "
                            "3009999999 n'est pas éligible au Cashback ou n'existe pas")).to_be_visible()
    expect(page.get_by_test_id("count")).to_have_text("5")
    expect(page.get_by_test_id("collected")).to_have_text("0,00\u00a0€".replace("\u00a0", " "))
    pending = page.get_by_test_id("pending").inner_text().replace("\u202f", "").replace("\u00a0", "")
    assert pending in ("275,00 €", "275,00€")
    expect(page.locator("[data-status=DOCS_REQUIRED] strong")).to_have_text("1")
    expect(page.locator("[data-status=PAYMENT_PENDING] strong")).to_have_text("3")
    # a colour per status
    colours = {s: page.locator(f"[data-status={s}]").evaluate("e => getComputedStyle(e).backgroundColor")
               for s in ("PAYMENT_PENDING", "DOCS_REQUIRED", "REJECTED")}
    assert len(set(colours.values())) == 3
    page.screenshot(path=str(artifacts / "overview.png"), full_page=True)

    # filters, by keyboard
    page.get_by_label("Statut").select_option("DOCS_REQUIRED")
    page.get_by_label("Numéro de série").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**status=DOCS_REQUIRED**")
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    expect(page.get_by_role("link", name=A_DOCS)).to_be_visible()
    assert COMPANY_B not in page.content()


def test_keyboard_reaches_the_skip_link_and_focus_is_visible(page: Any, server: Server) -> None:
    log_in(page, server, server.tokens.a)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused.strip() == "Aller au contenu"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_register_one_device(page: Any, server: Server) -> None:
    log_in(page, server, server.tokens.a)
    page.get_by_role("link", name="Enregistrer un appareil").click()
    page.get_by_label("Numéro de série").fill(FREE_SB3[2])
    page.get_by_label("Type d'appareil").fill(SB3)
    page.get_by_label("Date d'installation").fill("2026-05-03")
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_test_id("outcome")).to_contain_text("Enregistrement réussi, paiement en attente")


def test_upload_a_workbook_with_a_faulty_row(page: Any, server: Server, tmp_path: Path) -> None:
    content = workbook_bytes([(FREE_SB3[0], SB3, "03/05/2026"), (FREE_SB3[1], SB3, "31/02/2026"),
                              ("3008888888", SB3, "03/05/2026")], tmp_path)
    log_in(page, server, server.tokens.a)
    page.get_by_role("link", name="Importer un classeur").click()
    page.get_by_label("Classeur (.xlsx)").set_input_files(
        {"name": "appareils.xlsx", "mimeType": XLSX, "buffer": content})
    page.get_by_role("button", name="Importer").click()
    expect(page.get_by_role("heading", name="Verdicts pour appareils.xlsx")).to_be_visible()
    expect(page.locator("tr[data-row='2']")).to_contain_text("Paiement en attente")
    expect(page.locator("tr[data-row='3']")).to_contain_text("Ligne invalide")
    expect(page.locator("tr[data-row='3']")).to_contain_text(
        "Date d'installation : '31/02/2026' n'est pas une date valide (attendu jj/mm/aaaa)")
    expect(page.locator("tr[data-row='4']")).to_contain_text("UNKNOWN_SERIAL")

    page.get_by_label("Classeur (.xlsx)").set_input_files(
        {"name": "notes.xlsx", "mimeType": XLSX, "buffer": b"not;a;workbook\n"})
    page.get_by_role("button", name="Importer").click()
    expect(page.get_by_test_id("workbook-error")).to_contain_text("ce n'est pas un classeur Excel .xlsx")
    expect(page.get_by_test_id("workbook-error")).not_to_contain_text("not an Excel")


def test_upload_a_document_for_a_device_awaiting_documents(page: Any, server: Server) -> None:
    log_in(page, server, server.tokens.a)
    page.get_by_role("link", name=A_DOCS).click()
    expect(page.get_by_test_id("label")).to_have_text("Informations supplémentaires requises : téléchargez le fichier")
    page.get_by_label("Type de document").select_option("invoice")
    page.get_by_label("Fichier (PDF, JPEG ou PNG)").set_input_files(
        {"name": "facture.pdf", "mimeType": "application/pdf", "buffer": PDF})
    page.get_by_role("button", name="Téléverser le document").click()
    expect(page.get_by_role("status")).to_contain_text("Document reçu")
    expect(page.get_by_test_id("label")).to_have_text("Documents reçus, vérification en cours")
    expect(page.locator("ol.history")).to_contain_text("Document reçu (Facture)")


def test_phone_sized_viewport_shows_cards(browser: Any, server: Server, artifacts: Path) -> None:
    context = browser.new_context(locale="fr-FR", viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    try:
        log_in(page, server, server.tokens.a)
        row = page.locator("table.devices tbody tr").first
        assert row.evaluate("e => getComputedStyle(e).display") == "block"
        assert page.locator("table.devices thead").evaluate("e => e.getBoundingClientRect().width") <= 1
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"horizontal scrolling on a phone: {width}px"
        expect(page.get_by_role("link", name=A_PAYABLE[0])).to_be_visible()
        page.screenshot(path=str(artifacts / "overview-phone.png"))
        page.locator("table.devices").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "overview-phone-cards.png"))
        page.screenshot(path=str(artifacts / "overview-phone-full.png"), full_page=True)
    finally:
        context.close()


def test_a_bad_address_shows_a_french_error_page_with_a_way_back(page: Any, server: Server) -> None:
    from tests.api.portal_fixtures import B_PAYABLE

    log_in(page, server, server.tokens.a)
    for path, status, title in (("/?page=-5", 422, "Demande invalide"),
                                (f"/devices/{B_PAYABLE[0]}", 404, "Page introuvable")):
        response = page.goto(f"{server.url}{path}")
        assert response.status == status, path
        expect(page.get_by_role("heading", name=title)).to_be_visible()
        assert "application/problem" not in page.content() and '"status"' not in page.content()
        page.get_by_role("link", name="Retour à mes appareils").click()
        expect(page.get_by_role("heading", name="Mes appareils")).to_be_visible()
