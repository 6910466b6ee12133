"""The portal's JSON API: outcomes, reads, roles, bad input, operations endpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.http import create_app
from cashback.bootstrap import Engine
from cashback.intake import register_one
from cashback.requests import build_request
from domain.provenance import Channel
from tests.api.portal_fixtures import (
    A_DOCS,
    A_PAYABLE,
    A_UNKNOWN,
    B_PAYABLE,
    COMPANY_A,
    COMPANY_B,
    FREE_ABROAD,
    FREE_OLD_STOCK,
    FREE_SB3,
    SB3,
    SB5,
    Tokens,
    auth,
    make_engine,
    seed,
    workbook_bytes,
)

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def register(client: TestClient, token: str, serial: str, device_type: str = SB3, day: str = "2026-05-03"):  # type: ignore[no-untyped-def]
    return client.post("/v1/registrations", headers=auth(token),
                       json={"serial": serial, "device_type": device_type, "installed_on": day})


# --- registrations ----------------------------------------------------------------------------


def test_a_registration_answers_the_outcome_with_its_french_label(client: TestClient, tokens: Tokens) -> None:
    first = register(client, tokens.a, FREE_SB3[0])
    assert first.status_code == 201
    body = first.json()
    assert body == {"serial": FREE_SB3[0], "outcome": "registered", "status": "PAYMENT_PENDING",
                    "label": "Enregistrement réussi, paiement en attente", "reason": None, "reason_text": "",
                    "amount_cents": 5000}
    again = register(client, tokens.a, " 3003-000-001 ")  # same device, typed differently
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"

    docs = register(client, tokens.a, FREE_ABROAD).json()
    assert docs["status"] == "DOCS_REQUIRED"
    assert docs["label"] == "Informations supplémentaires requises : téléchargez le fichier"

    unknown = register(client, tokens.a, "3008888888").json()
    assert unknown["status"] == "REJECTED" and unknown["reason"] == "UNKNOWN_SERIAL"
    assert unknown["label"].startswith("Enregistrement impossible – l'appareil SB3.0-1AV-41 avec le numéro de série "
                                       "3008888888")
    assert unknown["reason_text"] == "numéro de série inconnu (faute de frappe ?)"

    listed = client.get("/v1/devices", headers=auth(tokens.a), params={"q": FREE_SB3[0]}).json()
    assert [d["serial"] for d in listed["items"]] == [FREE_SB3[0]]  # the write is visible at once


def test_field_level_422s_name_the_field(client: TestClient, tokens: Tokens) -> None:
    missing = client.post("/v1/registrations", headers=auth(tokens.a), json={"serial": "3003000001"})
    assert missing.status_code == 422
    assert missing.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in missing.json()["errors"]}
    assert fields == {"device_type", "installed_on"}

    bad_date = register(client, tokens.a, FREE_SB3[1], day="31/02/2026")
    assert bad_date.status_code == 422 and bad_date.json()["errors"][0]["field"] == "installed_on"

    bad_serial = register(client, tokens.a, "??")
    assert bad_serial.status_code == 422
    assert bad_serial.json()["errors"][0]["field"] == "serial"

    # The company comes from the token: a body naming one is refused, not obeyed.
    sneaky = client.post("/v1/registrations", headers=auth(tokens.a),
                         json={"serial": FREE_SB3[1], "device_type": SB3, "installed_on": "2026-05-03",
                               "customer_no": COMPANY_B})
    assert sneaky.status_code == 422 and sneaky.json()["errors"][0]["field"] == "customer_no"

    not_json = client.post("/v1/registrations", headers={**auth(tokens.a), "content-type": "application/json"},
                           content=b"{not json")
    assert not_json.status_code == 422


# --- reads ------------------------------------------------------------------------------------------


def test_overview_filters_pages_and_totals(client: TestClient, tokens: Tokens) -> None:
    page = client.get("/v1/devices", headers=auth(tokens.a)).json()
    assert page["company"] == COMPANY_A and page["matching"] == 5
    assert page["totals"] == {
        "collected_cents": 0, "pending_cents": 5000 + 7500 + 10000 + 5000, "count": 5,
        "count_by_status": {"PAYMENT_PENDING": 3, "DOCS_REQUIRED": 1, "DOCS_UPLOADED": 0, "PAID": 0, "REJECTED": 1},
    }
    labels = {d["status"]: d["label"] for d in page["items"]}
    assert labels["PAYMENT_PENDING"] == "Enregistrement réussi, paiement en attente"
    assert labels["DOCS_REQUIRED"] == "Informations supplémentaires requises : téléchargez le fichier"

    only = client.get("/v1/devices", headers=auth(tokens.a), params={"status": "DOCS_REQUIRED"}).json()
    assert [d["serial"] for d in only["items"]] == [A_DOCS] and only["matching"] == 1
    assert only["items"][0]["deadline"] == "2026-06-15" and only["items"][0]["documents_needed"] == ["invoice"]
    assert only["totals"]["count"] == 5  # totals are the company's, not the filter's

    sb5 = client.get("/v1/devices", headers=auth(tokens.a), params={"device_type": "sb5.0-1av-41"}).json()
    assert [d["serial"] for d in sb5["items"]] == [A_PAYABLE[1]]
    search = client.get("/v1/devices", headers=auth(tokens.a), params={"q": "1000003"}).json()
    assert [d["serial"] for d in search["items"]] == [A_PAYABLE[2]]

    first = client.get("/v1/devices", headers=auth(tokens.a), params={"limit": 2, "offset": 0}).json()
    second = client.get("/v1/devices", headers=auth(tokens.a), params={"limit": 2, "offset": 2}).json()
    third = client.get("/v1/devices", headers=auth(tokens.a), params={"limit": 2, "offset": 4}).json()
    serials = [d["serial"] for p in (first, second, third) for d in p["items"]]
    assert len(serials) == 5 == len(set(serials)) and first["matching"] == 5

    for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"status": "LOST"}, {"q": "x" * 41}):
        bad = client.get("/v1/devices", headers=auth(tokens.a), params=params)
        assert bad.status_code == 422, params
        assert bad.json()["errors"][0]["field"] in params


def test_device_history_shows_kinds_dates_and_labels_but_no_actor(client: TestClient, tokens: Tokens) -> None:
    response = client.get(f"/v1/devices/{A_DOCS}", headers=auth(tokens.a))
    assert response.status_code == 200
    body = response.json()
    assert body["device"]["status"] == "DOCS_REQUIRED"
    assert body["device"]["reason"] == "SOLD_IN_OTHER_COUNTRY"  # the code for machines, words for people
    assert body["device"]["reason_text"] == "l'appareil a été vendu dans un autre pays que celui de la campagne"
    assert [h["kind"] for h in body["history"]] == ["registered", "documents_requested"]
    assert body["history"][1]["label"] == "Informations supplémentaires requises : téléchargez le fichier"
    assert body["history"][1]["at"].startswith("2026-06-01T10:00:00")
    text = response.text
    assert "seed:" not in text and "actor" not in text and f"\"{COMPANY_B}\"" not in text

    # A staff review leaves no staff id in what the installer sees.
    client.post(f"/v1/devices/{A_DOCS}/documents", headers=auth(tokens.a), data={"kind": "invoice"},
                files={"file": ("facture.pdf", PDF, "application/pdf")})
    approved = client.post(f"/v1/review/{A_DOCS}/approve", headers=auth(tokens.staff))
    assert approved.status_code == 200
    after = client.get(f"/v1/devices/{A_DOCS}", headers=auth(tokens.a))
    assert [h["kind"] for h in after.json()["history"]][-2:] == ["document_uploaded", "documents_approved"]
    staff_id = tokens.staff.split("_")[1]
    assert staff_id not in after.text and "staff:" not in after.text and "portal:" not in after.text


def test_unknown_or_malformed_serials_are_404(client: TestClient, tokens: Tokens) -> None:
    for serial in ("3007777777", "%20", "é", "x" * 200):
        response = client.get(f"/v1/devices/{serial}", headers=auth(tokens.a))
        assert response.status_code == 404, serial


# --- roles ---------------------------------------------------------------------------------------


def test_roles(client: TestClient, tokens: Tokens) -> None:
    assert client.get("/v1/review", headers=auth(tokens.a)).status_code == 403
    assert client.post(f"/v1/review/{A_DOCS}/approve", headers=auth(tokens.a)).status_code == 403
    assert client.post(f"/v1/review/{A_DOCS}/reject", headers=auth(tokens.a)).status_code == 403
    for token in (tokens.staff, tokens.finance, tokens.auditor):
        assert register(client, token, FREE_SB3[2]).status_code == 403
        assert client.post(f"/v1/devices/{A_DOCS}/documents", headers=auth(token), data={"kind": "invoice"},
                           files={"file": ("f.pdf", PDF, "application/pdf")}).status_code == 403
        assert client.post("/v1/registrations/workbook", headers=auth(token),
                           files={"file": ("w.xlsx", b"x", "application/octet-stream")}).status_code == 403
        no_company = client.get("/v1/devices", headers=auth(token))
        assert no_company.status_code == 400 and no_company.json()["code"] == "company_required"
        named = client.get("/v1/devices", headers=auth(token), params={"company": COMPANY_B}).json()
        assert {d["serial"] for d in named["items"]} >= set(B_PAYABLE)
        assert client.get(f"/v1/devices/{A_DOCS}", headers=auth(token)).json()["device"]["serial"] == A_DOCS
        assert client.get("/v1/template.xlsx", headers=auth(token)).status_code == 200
    for token in (tokens.finance, tokens.auditor):
        assert client.get("/v1/review", headers=auth(token)).status_code == 403
        assert client.post(f"/v1/review/{A_DOCS}/approve", headers=auth(token)).status_code == 403


def test_every_protected_endpoint_needs_a_valid_token(client: TestClient, tokens: Tokens) -> None:
    calls = [("post", "/v1/registrations"), ("post", "/v1/registrations/workbook"), ("get", "/v1/template.xlsx"),
             ("get", "/v1/devices"), ("get", f"/v1/devices/{A_DOCS}"), ("post", f"/v1/devices/{A_DOCS}/documents"),
             ("get", "/v1/review"), ("post", f"/v1/review/{A_DOCS}/approve"), ("post", f"/v1/review/{A_DOCS}/reject")]
    for headers in ({}, auth(tokens.revoked), auth("cbk_000000000000_" + "a" * 43), auth("nonsense"),
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        for method, path in calls:
            response = getattr(client, method)(path, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.headers["content-type"].startswith("application/problem+json")
    for path in ("/health", "/ready", "/metrics", "/login", "/static/portal.css", "/openapi.json"):
        assert client.get(path).status_code == 200, path


# --- review -----------------------------------------------------------------------------------------


def test_staff_review_queue_approve_and_reject(client: TestClient, tokens: Tokens) -> None:
    from tests.api.portal_fixtures import B_DOCS

    for token, serial in ((tokens.a, A_DOCS), (tokens.b, B_DOCS)):
        uploaded = client.post(f"/v1/devices/{serial}/documents", headers=auth(token), data={"kind": "invoice"},
                               files={"file": ("facture.pdf", PDF, "application/pdf")})
        assert uploaded.status_code == 201, uploaded.text
    queue = client.get("/v1/review", headers=auth(tokens.staff)).json()["items"]
    assert {(i["company"], i["serial"]) for i in queue} == {(COMPANY_A, A_DOCS), (COMPANY_B, B_DOCS)}
    assert queue[0]["received"][0]["kind"] == "invoice"

    approved = client.post(f"/v1/review/{A_DOCS}/approve", headers=auth(tokens.staff)).json()
    assert approved == {"serial": A_DOCS, "status": "PAYMENT_PENDING",
                        "label": "Enregistrement réussi, paiement en attente"}
    again = client.post(f"/v1/review/{A_DOCS}/approve", headers=auth(tokens.staff))
    assert again.status_code == 409 and again.json()["code"] == "not_awaiting_review"
    rejected = client.post(f"/v1/review/{B_DOCS}/reject", headers=auth(tokens.staff), json={"note": "illisible"})
    assert rejected.json()["status"] == "REJECTED"
    assert client.get("/v1/review", headers=auth(tokens.staff)).json()["items"] == []
    assert client.post("/v1/review/3007777777/approve", headers=auth(tokens.staff)).status_code == 404
    assert client.post("/v1/review/%3F%3F/approve", headers=auth(tokens.staff)).status_code == 404
    assert client.post(f"/v1/review/{A_PAYABLE[0]}/reject", headers=auth(tokens.staff),
                       json={"note": "illisible"}).status_code == 409
    b_view = client.get(f"/v1/devices/{B_DOCS}", headers=auth(tokens.b)).json()
    assert b_view["device"]["reason"] == "DOCS_REFUSED"
    assert b_view["device"]["reason_text"] == "documents refusés lors de la vérification"


# --- documents ------------------------------------------------------------------------------------


def test_document_upload_checks_content_status_and_kind(client: TestClient, tokens: Tokens) -> None:
    url = f"/v1/devices/{A_DOCS}/documents"
    ok = client.post(url, headers=auth(tokens.a), data={"kind": "invoice"},
                     files={"file": ("facture.pdf", PDF, "application/pdf")})
    assert ok.status_code == 201
    body = ok.json()
    assert body["status"] == "DOCS_UPLOADED" and body["recorded"] is True and body["media_type"] == "application/pdf"
    assert body["label"] == "Documents reçus, vérification en cours"
    same = client.post(url, headers=auth(tokens.a), data={"kind": "invoice"},
                       files={"file": ("copie.pdf", PDF, "application/pdf")})
    assert same.status_code == 201 and same.json()["recorded"] is False
    png = client.post(url, headers=auth(tokens.a), data={"kind": "commissioning_report"},
                      files={"file": ("pv.png", PNG, "image/png")})
    assert png.status_code == 201 and png.json()["media_type"] == "image/png"

    exe = client.post(url, headers=auth(tokens.a), data={"kind": "invoice"},
                      files={"file": ("facture.pdf", b"MZ\x90\x00binary", "application/pdf")})
    assert exe.status_code == 415 and exe.json()["code"] == "document_unsupported_type"
    traversal = client.post(url, headers=auth(tokens.a), data={"kind": "invoice"},
                            files={"file": ("../../x.pdf", PDF, "application/pdf")})
    assert traversal.status_code == 422 and traversal.json()["code"] == "document_bad_name"
    empty = client.post(url, headers=auth(tokens.a), data={"kind": "invoice"},
                        files={"file": ("vide.pdf", b"", "application/pdf")})
    assert empty.status_code == 422 and empty.json()["code"] == "document_empty"
    kind = client.post(url, headers=auth(tokens.a), data={"kind": "selfie"},
                       files={"file": ("f.pdf", PDF, "application/pdf")})
    assert kind.status_code == 422 and kind.json()["errors"][0]["field"] == "kind"
    no_file = client.post(url, headers=auth(tokens.a), data={"kind": "invoice"})
    assert no_file.status_code == 422 and no_file.json()["errors"][0]["field"] == "file"
    payable = client.post(f"/v1/devices/{A_PAYABLE[0]}/documents", headers=auth(tokens.a), data={"kind": "invoice"},
                          files={"file": ("f.pdf", PDF, "application/pdf")})
    assert payable.status_code == 409 and payable.json()["code"] == "not_awaiting_documents"


def test_too_large_uploads_are_413(tmp_path: Path) -> None:
    engine = make_engine(tmp_path / "data", portal_max_upload_bytes=4096, max_upload_bytes=2048)
    tokens = seed(engine)
    with TestClient(create_app(engine), raise_server_exceptions=False) as client:
        big_doc = PDF + b"0" * 3000  # over the document store's limit, under the portal's
        response = client.post(f"/v1/devices/{A_DOCS}/documents", headers=auth(tokens.a), data={"kind": "invoice"},
                               files={"file": ("f.pdf", big_doc, "application/pdf")})
        assert response.status_code == 413 and response.json()["code"] == "document_too_large"
        huge = client.post(f"/v1/devices/{A_DOCS}/documents", headers=auth(tokens.a), data={"kind": "invoice"},
                           files={"file": ("f.pdf", PDF + b"0" * 5000, "application/pdf")})
        assert huge.status_code == 413 and huge.json()["code"] == "too_large"
        wb = workbook_bytes([(FREE_SB3[0], SB3, "03/05/2026")], tmp_path)
        assert len(wb) > 4096
        too_big = client.post("/v1/registrations/workbook", headers=auth(tokens.a),
                              files={"file": ("w.xlsx", wb, "application/octet-stream")})
        assert too_big.status_code == 413 and too_big.json()["code"] == "too_large"
        flood = client.post("/v1/registrations", headers={**auth(tokens.a), "content-type": "application/json"},
                            content=b" " * (4096 + 300 * 1024))
        assert flood.status_code == 413
    engine.close()


# --- operations ----------------------------------------------------------------------------------------


def test_health_ready_metrics_and_request_id(client: TestClient, tokens: Tokens) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    response = client.get("/v1/devices", headers={**auth(tokens.a), "X-Request-ID": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len(client.get("/health", headers={"X-Request-ID": "bad id!"}).headers["x-request-id"]) == 16
    client.get(f"/v1/devices/{A_DOCS}", headers=auth(tokens.b))
    metrics = client.get("/metrics").text
    assert 'cashback_http_request_duration_seconds_count{method="GET",route="/v1/devices",status="200"} 1.0' in metrics
    assert 'route="/v1/devices/{serial}",status="404"' in metrics
    assert "cashback_projection_lag_events 0.0" in metrics
    assert "cashback_feed_lag_records" not in metrics  # Kafka's end offsets unknown: no gauge


def test_metrics_feed_gauges(engine: Engine, tokens: Tokens) -> None:
    from eventsourcing.persistence import Tracking

    topic = engine.settings.feed_topic
    engine.app.save(trackings=[Tracking(f"kafka:{topic}:0", 41), Tracking(f"kafka:{topic}:1", 7)])
    app = create_app(engine, feed_lag=lambda: {0: 3, 1: 0})
    with TestClient(app) as client:
        metrics = client.get("/metrics").text
    assert 'cashback_feed_stored_offset{partition="0"} 41.0' in metrics
    assert 'cashback_feed_lag_records{partition="0"} 3.0' in metrics


def test_ready_answers_503_when_the_database_does_not(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    portal = client.app.state.portal  # type: ignore[attr-defined]

    def broken() -> None:
        raise OSError("database is gone")

    monkeypatch.setattr(portal, "ready", broken)
    response = client.get("/ready")
    assert response.status_code == 503 and response.json()["code"] == "not_ready"


def test_an_unexpected_error_is_a_logged_problem_500(client: TestClient, tokens: Tokens,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    portal = client.app.state.portal  # type: ignore[attr-defined]

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(portal, "page", boom)
    response = client.get("/v1/devices", headers=auth(tokens.a))
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "internal_error" and "bug" not in response.text


def test_writes_of_other_processes_show_up(client: TestClient, engine: Engine, tokens: Tokens) -> None:
    request = build_request(serial=FREE_SB3[3], device_type=SB3, installed_on="2026-05-04", customer_no=COMPANY_A)
    register_one(engine.app, request, actor="feed", channel=Channel.FEED, source="test")  # as the feed worker would
    page = client.get("/v1/devices", headers=auth(tokens.a), params={"q": FREE_SB3[3]}).json()
    assert [d["serial"] for d in page["items"]] == [FREE_SB3[3]]


def test_openapi_is_published_and_versioned(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/v1/registrations", "/v1/registrations/workbook", "/v1/template.xlsx", "/v1/devices",
            "/v1/devices/{serial}", "/v1/devices/{serial}/documents", "/v1/review", "/v1/review/{serial}/approve",
            "/v1/review/{serial}/reject", "/health", "/ready", "/metrics"} <= paths
    assert not any(p in paths for p in ("/", "/login", "/workbook"))  # the web page is not the API
    assert "RegistrationV1" in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["PortalToken"]["scheme"] == "bearer"


def test_unknown_company_of_the_rejected_serial(client: TestClient, tokens: Tokens) -> None:
    detail = client.get(f"/v1/devices/{A_UNKNOWN}", headers=auth(tokens.a)).json()
    assert detail["device"]["reason"] == "UNKNOWN_SERIAL"
    assert [h["kind"] for h in detail["history"]] == ["registered", "rejected"]
    assert detail["history"][-1]["reason_text"] == "numéro de série inconnu (faute de frappe ?)"
    assert SB5  # imported for the filters test


def test_a_chunked_body_over_the_limit_is_refused_without_reading_it_all(client, tokens) -> None:  # type: ignore[no-untyped-def]
    """No Content-Length (chunked): the limit still holds, counted on what arrives."""
    chunks_sent = 0

    def body():  # type: ignore[no-untyped-def]
        nonlocal chunks_sent
        for _ in range(64):  # 64 MiB if it were all read
            chunks_sent += 1
            yield b"x" * (1024 * 1024)

    response = client.post("/v1/registrations", content=body(), headers={
        "Authorization": f"Bearer {tokens.a}", "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["status"] == 413
    assert chunks_sent > 0  # (the test client buffers the body; uvicorn streams it, so the server stops early)


# --- what review, bad bodies, search and staff reads answer ------------------------------------------


PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "request_id"}


def _upload(client: TestClient, token: str, serial: str) -> None:
    uploaded = client.post(f"/v1/devices/{serial}/documents", headers=auth(token), data={"kind": "invoice"},
                           files={"file": ("facture.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text


def test_a_rejection_must_say_why(client: TestClient, tokens: Tokens) -> None:
    _upload(client, tokens.a, A_DOCS)
    path = f"/v1/review/{A_DOCS}/reject"
    for body in (None, {}, {"note": ""}, {"note": "   "}, None):
        refused = client.post(path, headers=auth(tokens.staff), json=body)
        assert refused.status_code == 422, body
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["code"] == "invalid_request" and [e["field"] for e in problem["errors"]] == ["note"], body
        assert problem["detail"].startswith("note: ")
    bare = client.post(path, headers=auth(tokens.staff))  # no body at all, not even a Content-Type
    assert bare.status_code == 422 and bare.json()["errors"][0]["field"] == "note"
    assert client.get(f"/v1/devices/{A_DOCS}", headers=auth(tokens.a)).json()["device"]["status"] == "DOCS_UPLOADED"
    assert [i["serial"] for i in client.get("/v1/review", headers=auth(tokens.staff)).json()["items"]] == [A_DOCS]

    rejected = client.post(path, headers=auth(tokens.staff), json={"note": " facture illisible "})
    assert rejected.status_code == 200 and rejected.json()["status"] == "REJECTED"


def test_a_malformed_json_body_is_a_problem_naming_the_body(client: TestClient, tokens: Tokens) -> None:
    json_type = {**auth(tokens.a), "content-type": "application/json"}
    truncated = client.post("/v1/registrations", headers=json_type, content=b'{"serial": ')
    assert truncated.status_code == 422
    assert truncated.headers["content-type"].startswith("application/problem+json")
    problem = truncated.json()
    assert set(problem) >= PROBLEM_KEYS and problem["code"] == "malformed_json"
    assert problem["detail"] == "body: malformed JSON at character 11: Expecting value"
    assert problem["errors"] == [{"field": "body", "location": "body", "type": "json_invalid",
                                  "message": "malformed JSON at character 11: Expecting value"}]
    staff = client.post(f"/v1/review/{A_DOCS}/reject", headers={**auth(tokens.staff), "content-type":
                                                                "application/json"}, content=b'{"note": "x"')
    assert staff.status_code == 422 and staff.json()["errors"][0]["field"] == "body"

    deep = client.post("/v1/registrations", headers=json_type, content=b"[" * 100_000 + b"]" * 100_000)
    assert deep.status_code == 400 and deep.headers["content-type"].startswith("application/problem+json")
    assert set(deep.json()) >= PROBLEM_KEYS and deep.json()["code"] == "unparsable_body"
    assert deep.json()["detail"].startswith("body: ")


def test_a_json_body_sent_as_something_else_is_415(client: TestClient, tokens: Tokens) -> None:
    body = b'{"serial": "3003000001", "device_type": "SB3.0-1AV-41", "installed_on": "2026-05-03"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):  # curl -d sends the second
        headers = {**auth(tokens.a), **({"content-type": content_type} if content_type else {})}
        answer = client.post("/v1/registrations", headers=headers, content=body)
        assert answer.status_code == 415, content_type
        assert set(answer.json()) >= PROBLEM_KEYS and answer.json()["code"] == "unsupported_media_type"
        assert "Content-Type: application/json" in answer.json()["detail"]
    assert client.get("/v1/devices", headers=auth(tokens.a), params={"q": FREE_SB3[0]}).json()["matching"] == 0
    with_charset = client.post("/v1/registrations", content=body,
                               headers={**auth(tokens.a), "content-type": "application/json; charset=utf-8"})
    assert with_charset.status_code == 201


def test_every_error_has_the_problem_shape(client: TestClient, tokens: Tokens) -> None:
    for answer in (client.delete("/v1/devices", headers=auth(tokens.a)), client.get("/v1/nothing-here"),
                   client.get("/v1/devices", headers=auth(tokens.a), params={"limit": 0})):
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert set(answer.json()) >= PROBLEM_KEYS, answer.json()
    assert client.delete("/v1/devices", headers=auth(tokens.a)).json()["code"] == "method_not_allowed"


def test_the_serial_search_is_literal(client: TestClient, tokens: Tokens) -> None:
    def serials(q: str) -> list[str]:
        page = client.get("/v1/devices", headers=auth(tokens.a), params={"q": q}).json()
        assert page["matching"] == len(page["items"])
        return sorted(d["serial"] for d in page["items"])

    for wildcard in ("%", "_", "%%", "3%1", "!", "\\", "*"):
        assert serials(wildcard) == [], wildcard
    # "_" is one of the separators a serial is written with (as "-" or " "): dropped, never a wildcard.
    assert serials("3_01") == []  # as a LIKE wildcard it would match 3001…
    assert serials("3001-0000-0") == serials("3001_0000 0") == sorted([*A_PAYABLE, A_DOCS])
    assert serials("9999") == [A_UNKNOWN]
    assert serials(" ") == sorted([*A_PAYABLE, A_DOCS, A_UNKNOWN])  # nothing typed: no filter


def test_staff_naming_a_company_that_is_not_enrolled_get_404(client: TestClient, tokens: Tokens) -> None:
    for token in (tokens.staff, tokens.finance, tokens.auditor):
        for company, shown in (("xyz", "XYZ"), ("999999", "999999")):
            answer = client.get("/v1/devices", headers=auth(token), params={"company": company})
            assert answer.status_code == 404
            assert answer.headers["content-type"].startswith("application/problem+json")
            problem = answer.json()
            assert set(problem) >= PROBLEM_KEYS and problem["code"] == "company_not_enrolled"
            assert problem["detail"] == f"company {shown} is not enrolled in campaign fr-2026"
        assert client.get("/v1/devices", headers=auth(token), params={"company": COMPANY_A}).status_code == 200
    # An installer's ?company= is ignored, as before: its own company.
    own = client.get("/v1/devices", headers=auth(tokens.a), params={"company": "xyz"})
    assert own.status_code == 200 and own.json()["company"] == COMPANY_A


def test_no_swagger_ui_from_a_cdn_only_the_openapi_document(client: TestClient) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "cdn.jsdelivr.net" not in answer.text
    spec = client.get("/openapi.json")
    assert spec.status_code == 200 and "default-src 'self'" in spec.headers["content-security-policy"]
    reject = spec.json()["components"]["schemas"]["RejectV1"]
    assert reject["required"] == ["note"] and reject["properties"]["note"]["minLength"] == 1


def test_one_of_two_documents_keeps_the_device_waiting_and_out_of_review(client: TestClient, tokens: Tokens) -> None:
    assert register(client, tokens.a, FREE_OLD_STOCK).json()["status"] == "DOCS_REQUIRED"
    url = f"/v1/devices/{FREE_OLD_STOCK}/documents"
    first = client.post(url, headers=auth(tokens.a), data={"kind": "invoice"},
                        files={"file": ("facture.pdf", PDF, "application/pdf")})
    assert first.status_code == 201
    assert (first.json()["status"], first.json()["documents_missing"]) == ("DOCS_REQUIRED", ["commissioning_report"])
    assert first.json()["label"] == "Informations supplémentaires requises : téléchargez le fichier"
    view = client.get(f"/v1/devices/{FREE_OLD_STOCK}", headers=auth(tokens.a)).json()
    assert view["device"]["status"] == "DOCS_REQUIRED" and view["device"]["deadline"] == "2026-06-15"
    assert view["device"]["documents_needed"] == ["invoice", "commissioning_report"]
    assert view["documents_missing"] == ["commissioning_report"]
    assert [(h["kind"], h["status"], h["document_kind"]) for h in view["history"]][-1] == (
        "document_uploaded", "DOCS_REQUIRED", "invoice")
    queue = client.get("/v1/review", headers=auth(tokens.staff)).json()["items"]
    assert FREE_OLD_STOCK not in [i["serial"] for i in queue]
    early = client.post(f"/v1/review/{FREE_OLD_STOCK}/approve", headers=auth(tokens.staff))
    assert early.status_code == 409 and "commissioning_report" in early.json()["detail"]

    second = client.post(url, headers=auth(tokens.a), data={"kind": "commissioning_report"},
                         files={"file": ("pv.pdf", PDF + b"% pv\n", "application/pdf")})
    assert (second.json()["status"], second.json()["documents_missing"]) == ("DOCS_UPLOADED", [])
    view = client.get(f"/v1/devices/{FREE_OLD_STOCK}", headers=auth(tokens.a)).json()
    assert view["device"]["status"] == "DOCS_UPLOADED" and view["documents_missing"] == []
    assert view["history"][-1]["status"] == "DOCS_UPLOADED"
    queue = client.get("/v1/review", headers=auth(tokens.staff)).json()["items"]
    (item,) = [i for i in queue if i["serial"] == FREE_OLD_STOCK]
    assert item["documents_missing"] == [] and len(item["received"]) == 2
    assert client.post(f"/v1/review/{FREE_OLD_STOCK}/approve", headers=auth(tokens.staff)).json()["status"] == (
        "PAYMENT_PENDING")
