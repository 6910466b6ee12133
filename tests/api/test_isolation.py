"""Tenant isolation, endpoint by endpoint, with a second company's token (company B against A's data)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.portal_fixtures import (
    A_DOCS,
    A_PAYABLE,
    A_UNKNOWN,
    COMPANY_A,
    COMPANY_B,
    SB3,
    Tokens,
    auth,
    workbook_bytes,
)

PDF = b"%PDF-1.4\n%%EOF\n"
A_SERIALS = {*A_PAYABLE, A_DOCS, A_UNKNOWN}


def a_view(client: TestClient, tokens: Tokens) -> dict[str, object]:
    return client.get("/v1/devices", headers=auth(tokens.a), params={"limit": 200}).json()  # type: ignore[no-any-return]


def test_overview_lists_only_the_callers_devices(client: TestClient, tokens: Tokens) -> None:
    page = client.get("/v1/devices", headers=auth(tokens.b), params={"limit": 200}).json()
    assert page["company"] == COMPANY_B
    assert not A_SERIALS & {d["serial"] for d in page["items"]}
    assert page["totals"]["count"] == 3
    for serial in A_SERIALS:  # searching for A's serials finds nothing
        found = client.get("/v1/devices", headers=auth(tokens.b), params={"q": serial}).json()
        assert found["items"] == [] and found["matching"] == 0
    # an installer cannot read another company by naming it
    named = client.get("/v1/devices", headers=auth(tokens.b), params={"company": COMPANY_A}).json()
    assert named["company"] == COMPANY_B and not A_SERIALS & {d["serial"] for d in named["items"]}
    assert f"\"{COMPANY_A}\"" not in client.get("/v1/devices", headers=auth(tokens.b)).text


def test_another_companys_device_is_404_like_a_device_that_does_not_exist(client: TestClient,
                                                                          tokens: Tokens) -> None:
    for serial in A_SERIALS:
        theirs = client.get(f"/v1/devices/{serial}", headers=auth(tokens.b))
        assert theirs.status_code == 404
        assert theirs.json()["code"] == "unknown_device"
        assert f"\"{COMPANY_A}\"" not in theirs.text
        mine_would_be = client.get("/v1/devices/3007777777", headers=auth(tokens.b)).json()
        assert set(theirs.json()) == set(mine_would_be)
        assert client.get(f"/v1/devices/{serial}", headers=auth(tokens.b),
                          params={"company": COMPANY_A}).status_code == 404


def test_documents_cannot_be_uploaded_to_another_companys_device(client: TestClient, tokens: Tokens) -> None:
    response = client.post(f"/v1/devices/{A_DOCS}/documents", headers=auth(tokens.b), data={"kind": "invoice"},
                           files={"file": ("facture.pdf", PDF, "application/pdf")})
    assert response.status_code == 404
    mine = client.get(f"/v1/devices/{A_DOCS}", headers=auth(tokens.a)).json()
    assert mine["device"]["status"] == "DOCS_REQUIRED"
    assert [h["kind"] for h in mine["history"]] == ["registered", "documents_requested"]


def test_registering_another_companys_serial_changes_nothing_of_theirs(client: TestClient, tokens: Tokens) -> None:
    before = a_view(client, tokens)
    claim = client.post("/v1/registrations", headers=auth(tokens.b),
                        json={"serial": A_PAYABLE[0], "device_type": SB3, "installed_on": "2026-05-03"})
    assert claim.status_code == 200
    assert claim.json()["outcome"] == "claim_refused" and claim.json()["status"] == "REJECTED"
    assert f"\"{COMPANY_A}\"" not in claim.text
    assert a_view(client, tokens) == before
    # B sees its own refused claim, with its own history only
    own = client.get(f"/v1/devices/{A_PAYABLE[0]}", headers=auth(tokens.b)).json()
    assert own["device"]["status"] == "REJECTED" and own["device"]["reason"] == "ALREADY_CLAIMED"
    assert [h["kind"] for h in own["history"]] == ["claim_refused"]
    assert own["device"]["amount_cents"] == 0 and own["device"]["installed_on"] is None
    # and A never sees B's claim
    a_history = client.get(f"/v1/devices/{A_PAYABLE[0]}", headers=auth(tokens.a))
    assert "claim_refused" not in a_history.text and f"\"{COMPANY_B}\"" not in a_history.text


def test_a_workbook_cannot_touch_another_companys_devices(client: TestClient, tokens: Tokens, tmp_path: Path) -> None:
    before = a_view(client, tokens)
    content = workbook_bytes([(A_PAYABLE[1], "SB5.0-1AV-41", "03/05/2026"), (A_DOCS, SB3, "03/05/2026")], tmp_path)
    response = client.post("/v1/registrations/workbook", headers=auth(tokens.b),
                           files={"file": ("w.xlsx", content, "application/octet-stream")})
    assert response.status_code == 200
    verdicts = response.json()["verdicts"]
    assert [(v["status"], v["reason"]) for v in verdicts] == [("REJECTED", "ALREADY_CLAIMED")] * 2
    assert f"\"{COMPANY_A}\"" not in response.text
    assert a_view(client, tokens) == before


def test_review_is_closed_to_installers_of_every_company(client: TestClient, tokens: Tokens) -> None:
    client.post(f"/v1/devices/{A_DOCS}/documents", headers=auth(tokens.a), data={"kind": "invoice"},
                files={"file": ("facture.pdf", PDF, "application/pdf")})
    for token in (tokens.a, tokens.b):
        assert client.get("/v1/review", headers=auth(token)).status_code == 403
        assert client.post(f"/v1/review/{A_DOCS}/approve", headers=auth(token)).status_code == 403
        assert client.post(f"/v1/review/{A_DOCS}/reject", headers=auth(token), json={"note": "x"}).status_code == 403
    assert client.get(f"/v1/devices/{A_DOCS}", headers=auth(tokens.a)).json()["device"]["status"] == "DOCS_UPLOADED"


def test_the_template_carries_no_company_data(client: TestClient, tokens: Tokens) -> None:
    a = client.get("/v1/template.xlsx", headers=auth(tokens.a))
    b = client.get("/v1/template.xlsx", headers=auth(tokens.b))
    assert a.status_code == b.status_code == 200
    assert a.headers["content-type"] == b.headers["content-type"]
    for serial in A_SERIALS:
        assert serial.encode() not in b.content


def test_the_web_page_is_isolated_too(client: TestClient, tokens: Tokens) -> None:
    from tests.api.test_web import csrf_of, login

    login(client, tokens.b)
    overview = client.get("/")
    assert overview.status_code == 200 and not any(s in overview.text for s in A_SERIALS)
    assert client.get(f"/devices/{A_DOCS}", headers={"accept": "text/html"}).status_code == 404
    upload = client.post(f"/devices/{A_DOCS}/documents", headers={"accept": "text/html"},
                         data={"kind": "invoice", "csrf_token": csrf_of(client)},
                         files={"file": ("facture.pdf", PDF, "application/pdf")})
    assert upload.status_code == 404
    assert client.get(f"/devices/{A_DOCS}", headers=auth(tokens.a)).status_code == 404  # web routes ignore Bearer
