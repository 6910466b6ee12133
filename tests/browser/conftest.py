"""Browser tests: Debian's chromium driven by Playwright, against a real uvicorn server on loopback.

The browser is /usr/bin/chromium (scripts/browser.sh installs it from Debian's packages when it is
missing); Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.http import create_app
from tests.api.portal_fixtures import Tokens, make_engine, seed

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        result = subprocess.run(["bash", str(ROOT / "scripts/browser.sh")], capture_output=True, text=True,
                                timeout=900)
        if result.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(f"{CHROMIUM} is missing and scripts/browser.sh could not install Debian's chromium "
                        f"(apt-get install chromium; needs root and Debian's package mirror):\n"
                        f"{result.stdout[-1500:]}\n{result.stderr[-1500:]}")
    return CHROMIUM


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    tokens: Tokens
    engine: Any


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """uvicorn in a thread on 127.0.0.1, over a temporary SQLite store with two companies' devices."""
    import uvicorn

    engine = make_engine(tmp_path_factory.mktemp("portal") / "data", portal_staleness_seconds=0)
    tokens = seed(engine)
    port = _free_port()
    uv = uvicorn.Server(uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning",
                                       access_log=False))
    thread = threading.Thread(target=uv.run, name="portal-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the portal did not start")
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", tokens, engine)
    uv.should_exit = True
    thread.join(timeout=10)
    engine.close()


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium_path), headless=True, args=LAUNCH_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    yield tab
    context.close()


def log_in(page: Any, server: Server, token: str) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("Jeton d'accès").fill(token)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{server.url}/")
