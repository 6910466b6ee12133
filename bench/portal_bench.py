"""Portal benchmark: a company's overview (10,000 devices) through the real server, beside raw SQL.

    python -m bench.portal_bench                 # 10,000 devices, 2,000 requests, 20 concurrent clients
    python -m bench.portal_bench --devices 2000 --requests 400 --concurrency 10

A fresh SQLite store in a temporary folder (the embedded default): one enrolled company with N devices
in every status, an installer token, then `cashback serve` in a subprocess on 127.0.0.1 and a free
port. The clients are httpx.AsyncClient tasks asking GET /v1/devices (first page of 50, with the
matching count and the company's totals). The reference runs the same three SQL statements on the
same projection file with sqlite3, at the same concurrency (threads, one connection each), in the
same run. Figures go to stdout and to bench/portal-results.json; progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_FILE = ROOT / "bench" / "portal-results.json"
NOW = "2026-12-01T09:00:00+01:00"
COMPANY = "100000"
PAGE = 50


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(latencies: list[float], wall: float) -> dict[str, float]:
    return {"requests": len(latencies), "p50_ms": round(percentile(latencies, 0.50) * 1000, 3),
            "p95_ms": round(percentile(latencies, 0.95) * 1000, 3),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 3),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 3), "throughput_rps": round(len(latencies) / wall, 1)}


# --- data ----------------------------------------------------------------------------------------------

def make_store(data_dir: Path, devices: int) -> tuple[dict[str, str], str]:
    """Enrol one company, register its devices (mixed statuses), project, create a token; returns env, token."""
    from adapters.http.tokens import TokenStore
    from cashback.app import Intake
    from cashback.bootstrap import build
    from cashback.clock import FixedClock
    from cashback.settings import Settings
    from domain.decision import RegistrationRequest
    from domain.enrolment import Enrolment
    from domain.provenance import Channel, Provenance

    catalog = data_dir / "catalog.csv"
    types = ("SB3.0-1AV-41", "SB5.0-1AV-41", "STP10.0-3AV-40", "SBS3.7-10")
    rows = []
    for i in range(devices):
        serial = f"31{i:08d}"
        country = "DE" if i % 10 == 3 else "FR"  # 10 % need documents
        rows.append((serial, types[i % len(types)], "2025-06-01", country))
    with catalog.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("serial", "device_type", "production_date", "country_of_sale"))
        writer.writerows(rows)
    env = {"CASHBACK_STORE": "sqlite", "CASHBACK_DATA_DIR": str(data_dir),
           "CASHBACK_CAMPAIGN_FILE": str(ROOT / "examples" / "campaign.toml"), "CASHBACK_CATALOG_FILE": str(catalog)}
    settings = Settings(_env_file=None, store="sqlite", data_dir=data_dir,  # type: ignore[call-arg]
                        campaign_file=ROOT / "examples" / "campaign.toml", catalog_file=catalog)
    engine = build(settings, clock=FixedClock(datetime.fromisoformat(NOW)))
    try:
        by = Provenance("bench", Channel.STAFF, "bench")
        engine.app.enrol([Enrolment(customer_no=COMPANY, name="Bench SARL", contact_email="bench@example.com",
                                    enrolled_on=date(2026, 1, 15))], by)
        batch: list[Intake] = []
        started = time.perf_counter()
        for i, (serial, device_type, _, _) in enumerate(rows):
            typed = device_type if i % 25 != 7 else "SB5.0-1AV-41" if device_type != "SB5.0-1AV-41" else device_type
            request = RegistrationRequest(serial=serial, device_type=typed, installed_on=date(2026, 6, 1),
                                          customer_no=COMPANY)
            batch.append(Intake(request, Provenance("bench", Channel.FEED, f"bench:{i}")))
            if len(batch) == 1000:
                engine.app.register_batch(batch)
                batch.clear()
        if batch:
            engine.app.register_batch(batch)
        say(f"registered {devices} devices in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        engine.projector().catch_up()
        say(f"projected in {time.perf_counter() - started:.1f} s")
        _, token = TokenStore(engine.read_db).create("installer", COMPANY, "bench")
    finally:
        engine.close()
    return env, token


# --- server -------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "cashback.cli", "--now", NOW, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"cashback serve exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise SystemExit("the portal did not become ready in 60 s")


async def http_run(url: str, token: str, requests: int, concurrency: int) -> tuple[list[float], float, int]:
    import httpx

    latencies: list[float] = []
    errors = 0
    remaining = iter(range(requests))
    lock = asyncio.Lock()

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while True:
            async with lock:
                if next(remaining, None) is None:
                    return
            started = time.perf_counter()
            response = await client.get("/v1/devices", params={"limit": PAGE})
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or len(response.json()["items"]) != PAGE:
                errors += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return latencies, wall, errors


# --- raw SQL reference ------------------------------------------------------------------------------

def sql_run(path: Path, requests: int, concurrency: int) -> tuple[list[float], float]:
    """The same rows with the portal's three statements, straight on the projection file."""
    from projections.queries import COLUMNS

    page_sql = (f"SELECT {', '.join(COLUMNS)} FROM overview WHERE campaign_id = ? AND customer_no = ?"
                " ORDER BY registered_at DESC, serial LIMIT ? OFFSET ?")
    count_sql = "SELECT COUNT(*) FROM overview WHERE campaign_id = ? AND customer_no = ?"
    totals_sql = ("SELECT status, COUNT(*), COALESCE(SUM(amount_cents), 0) FROM overview"
                  " WHERE campaign_id = ? AND customer_no = ? GROUP BY status")
    local = threading.local()
    latencies: list[float] = []

    def one(_: int) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = sqlite3.connect(str(path), check_same_thread=False)
        started = time.perf_counter()
        rows = conn.execute(page_sql, ("fr-2026", COMPANY, PAGE, 0)).fetchall()
        conn.execute(count_sql, ("fr-2026", COMPANY)).fetchone()
        conn.execute(totals_sql, ("fr-2026", COMPANY)).fetchall()
        latencies.append(time.perf_counter() - started)
        assert len(rows) == PAGE

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(one, range(min(100, requests))))  # warm-up
        latencies.clear()
        started = time.perf_counter()
        list(pool.map(one, range(requests)))
        wall = time.perf_counter() - started
    return latencies, wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--solo", type=int, default=300, help="requests of the one-client pass")
    parser.add_argument("--out", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))

    workdir = Path(tempfile.mkdtemp(prefix="cashback-portal-bench-"))
    server = None
    try:
        env, token = make_store(workdir, args.devices)
        port = free_port()
        server = start_server(env, port)
        url = f"http://127.0.0.1:{port}"
        say(f"portal ready on {url}; warming up")
        asyncio.run(http_run(url, token, 100, args.concurrency))
        say(f"{args.requests} requests, {args.concurrency} concurrent clients")
        http_latencies, http_wall, errors = asyncio.run(http_run(url, token, args.requests, args.concurrency))
        sql_latencies, sql_wall = sql_run(workdir / "overview.sqlite", args.requests, args.concurrency)
        say("one client at a time (unloaded latency)")
        solo_http, solo_http_wall, solo_errors = asyncio.run(http_run(url, token, args.solo, 1))
        solo_sql, solo_sql_wall = sql_run(workdir / "overview.sqlite", args.solo, 1)
        errors += solo_errors
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    portal = summary(http_latencies, http_wall)
    raw = summary(sql_latencies, sql_wall)
    ratio = {"p50": round(portal["p50_ms"] / raw["p50_ms"], 1), "p95": round(portal["p95_ms"] / raw["p95_ms"], 1)}
    results: dict[str, Any] = {
        "benchmark": "portal overview: GET /v1/devices?limit=50 (page + matching count + totals)",
        "devices": args.devices, "concurrency": args.concurrency, "errors": errors,
        "store": "sqlite (embedded default)", "portal_http": portal, "raw_sql_same_rows": raw,
        "ratio_portal_to_raw_sql": ratio,
        "one_client": {"portal_http": summary(solo_http, solo_http_wall),
                       "raw_sql_same_rows": summary(solo_sql, solo_sql_wall)},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "measured_at": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"portal overview, {args.devices} devices, {args.concurrency} concurrent clients, "
          f"{args.requests} requests each side")
    print(f"{'':<22}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'req/s':>10}")
    for name, figures in (("portal (HTTP, uvicorn)", portal), ("raw SQL (sqlite3)", raw)):
        print(f"{name:<22}{figures['p50_ms']:>10.2f}{figures['p95_ms']:>10.2f}{figures['p99_ms']:>10.2f}"
              f"{figures['throughput_rps']:>10.0f}")
    print(f"ratio portal / raw SQL: p50 x{ratio['p50']}, p95 x{ratio['p95']}; errors: {errors}")
    one = results["one_client"]
    solo_portal, solo_raw = one["portal_http"], one["raw_sql_same_rows"]
    print(f"one client at a time: portal p50 {solo_portal['p50_ms']:.2f} ms, p95 {solo_portal['p95_ms']:.2f} ms; "
          f"raw SQL p50 {solo_raw['p50_ms']:.2f} ms, p95 {solo_raw['p95_ms']:.2f} ms")
    print(f"written to {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
