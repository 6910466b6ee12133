"""The `cashback` command on the embedded default (SQLite), run as an operator runs it: a process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-12-01T09:00:00+01:00"
Cashback = Callable[..., subprocess.CompletedProcess[str]]


def cashback_on_sqlite(data_dir: Path, now: str = NOW, env: Mapping[str, str] | None = None) -> Cashback:
    """``run(*args, code=0, now=…)``: one `cashback` process on ``data_dir`` with the example campaign and
    catalog; it must exit with ``code`` (None: any) and never print a traceback."""
    full_env = {"CASHBACK_STORE": "sqlite", "CASHBACK_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin",
                "CASHBACK_CAMPAIGN_FILE": str(ROOT / "examples/campaign.toml"),
                "CASHBACK_CATALOG_FILE": str(ROOT / "examples/catalog.csv"), **(env or {})}
    default_now = now

    def run(*args: str, code: int | None = 0, now: str = default_now) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([sys.executable, "-m", "cashback.cli", "--now", now, *args], cwd=ROOT, env=full_env,
                                capture_output=True, text=True, timeout=300)
        if code is not None:
            assert result.returncode == code, (result.stdout[-1500:], result.stderr[-2000:])
        assert "Traceback" not in result.stderr
        return result

    return run


@pytest.fixture
def cb(tmp_path: Path) -> Cashback:
    """`cashback` on a fresh store where the example companies are enrolled."""
    run = cashback_on_sqlite(tmp_path / "data")
    run("enrol", str(ROOT / "examples/companies.csv"))
    return run
