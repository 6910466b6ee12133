"""Fixtures of the portal API tests: a temporary SQLite store with two companies, tokens per role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapters.http import create_app
from cashback.bootstrap import Engine
from tests.api.portal_fixtures import Tokens, make_engine, seed


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    built = make_engine(tmp_path / "data", portal_staleness_seconds=0)
    yield built
    built.close()


@pytest.fixture
def tokens(engine: Engine) -> Tokens:
    return seed(engine)


@pytest.fixture
def client(engine: Engine, tokens: Tokens) -> Iterator[TestClient]:
    with TestClient(create_app(engine), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session", autouse=True)
def _json_logs() -> None:
    """The portal's logs as `cashback` configures them (JSON lines, no console tracebacks)."""
    from cashback.logging import configure

    configure("INFO")
