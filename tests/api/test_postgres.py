"""The portal over PostgreSQL (CASHBACK_STORE=postgres): the same API on the event store and read models
in a schema of their own. Runs with `make test`, which starts PostgreSQL and sets CASHBACK_PG_DSN."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.http import create_app
from cashback.bootstrap import Engine, build
from cashback.clock import FixedClock
from cashback.settings import Settings
from tests.api.portal_fixtures import A_DOCS, COMPANY_A, FREE_SB3, NOW, SB3, auth, make_catalog, make_terms, seed

pytestmark = pytest.mark.integration

PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
def pg_engine(tmp_path: Path) -> Iterator[Engine]:
    dsn = os.environ.get("CASHBACK_PG_DSN")
    if not dsn:
        pytest.skip("CASHBACK_PG_DSN is not set: `make test` starts PostgreSQL and sets it")
    import psycopg

    schema = f"portal_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    settings = Settings(_env_file=None, store="postgres", pg_dsn=dsn, pg_schema=schema,  # type: ignore[call-arg]
                        data_dir=tmp_path, portal_staleness_seconds=0)
    engine = build(settings, clock=FixedClock(NOW), terms=make_terms(), catalog=make_catalog())
    try:
        yield engine
    finally:
        engine.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_the_portal_on_postgresql(pg_engine: Engine) -> None:
    tokens = seed(pg_engine)
    with TestClient(create_app(pg_engine), raise_server_exceptions=False) as client:
        assert client.get("/ready").status_code == 200
        page = client.get("/v1/devices", headers=auth(tokens.a)).json()
        assert page["company"] == COMPANY_A and page["totals"]["count"] == 5
        created = client.post("/v1/registrations", headers=auth(tokens.a),
                              json={"serial": FREE_SB3[0], "device_type": SB3, "installed_on": "2026-05-03"})
        assert created.status_code == 201
        assert client.get("/v1/devices", headers=auth(tokens.a)).json()["totals"]["count"] == 6
        for wildcard in ("%", "_", "3_01"):  # literal search: LIKE's wildcards escaped, as on SQLite
            assert client.get("/v1/devices", headers=auth(tokens.a), params={"q": wildcard}).json()["matching"] == 0
        found = client.get("/v1/devices", headers=auth(tokens.a), params={"q": FREE_SB3[0][-7:]}).json()
        assert FREE_SB3[0] in [row["serial"] for row in found["items"]]
        assert all(FREE_SB3[0][-7:] in row["serial"] for row in found["items"])
        assert client.get(f"/v1/devices/{A_DOCS}", headers=auth(tokens.b)).status_code == 404
        uploaded = client.post(f"/v1/devices/{A_DOCS}/documents", headers=auth(tokens.a), data={"kind": "invoice"},
                               files={"file": ("f.pdf", PDF, "application/pdf")})
        assert uploaded.status_code == 201, uploaded.text
        assert client.post(f"/v1/review/{A_DOCS}/approve", headers=auth(tokens.staff)).json()["status"] == \
            "PAYMENT_PENDING"
        history = client.get(f"/v1/devices/{A_DOCS}", headers=auth(tokens.a)).json()["history"]
        assert [h["kind"] for h in history][-2:] == ["document_uploaded", "documents_approved"]
        assert client.get("/v1/devices", headers=auth(tokens.revoked)).status_code == 401
