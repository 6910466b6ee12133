"""`cashback tokens create|list|revoke` and `cashback serve --help`, as an operator runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from adapters.http.tokens import TokenStore
from projections.db import SQLiteProjectionDB

ROOT = Path(__file__).resolve().parents[2]


def cb(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"CASHBACK_STORE": "sqlite", "CASHBACK_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin",
           "CASHBACK_CAMPAIGN_FILE": str(ROOT / "examples/campaign.toml"),
           "CASHBACK_CATALOG_FILE": str(ROOT / "examples/catalog.csv")}
    return subprocess.run([sys.executable, "-m", "cashback.cli", "--now", "2026-06-01T10:00:00+02:00", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_tokens_are_printed_once_stored_hashed_listed_and_revoked(tmp_path: Path) -> None:
    assert cb(tmp_path, "enrol", "--customer-no", "100000", "--name", "Soleil", "--email", "a@soleil.example",
              "--enrolled-on", "2026-01-05").returncode == 0
    created = cb(tmp_path, "tokens", "create", "--role", "installer", "--company", "100000", "--name", "atelier")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("cbk_") and len(token.splitlines()) == 1
    token_id = token.split("_")[1]
    assert cb(tmp_path, "tokens", "create", "--role", "staff").returncode == 0

    db = SQLiteProjectionDB(tmp_path / "overview.sqlite")
    stored = db.query("SELECT secret_sha256 FROM portal_tokens WHERE token_id = %s", (token_id,))[0][0]
    assert token.split("_", 2)[2] not in stored and len(stored) == 64  # only the digest is kept
    store = TokenStore(db)
    principal = store.verify(token)
    assert principal is not None and principal.customer_no == "100000" and principal.role == "installer"
    assert store.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None

    listed = cb(tmp_path, "tokens", "list").stdout
    assert token_id in listed and "installer" in listed and "staff" in listed and token.split("_", 2)[2] not in listed
    assert cb(tmp_path, "tokens", "revoke", token_id).returncode == 0
    assert store.verify(token) is None
    assert "revoked" in cb(tmp_path, "tokens", "list").stdout
    assert cb(tmp_path, "tokens", "revoke", token_id).returncode != 0  # already revoked

    refused = cb(tmp_path, "tokens", "create", "--role", "installer", "--company", "999999")
    assert refused.returncode != 0 and "not enrolled" in refused.stderr
    assert cb(tmp_path, "tokens", "create", "--role", "installer").returncode != 0  # no company
    assert cb(tmp_path, "tokens", "create", "--role", "staff", "--company", "100000").returncode != 0
    assert cb(tmp_path, "tokens", "create", "--role", "root").returncode != 0
    db.close()


def test_serve_has_host_and_port_options(tmp_path: Path) -> None:
    helped = cb(tmp_path, "serve", "--help")
    assert helped.returncode == 0 and "--host" in helped.stdout and "--port" in helped.stdout
