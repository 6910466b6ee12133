"""Fixtures on the real PostgreSQL and Kafka started by scripts/services.sh (make test does it).

Each test gets its own PostgreSQL schema, its own topics and consumer groups,
so tests never see each other's data.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaProducer

from cashback.bootstrap import Engine, build
from cashback.clock import FixedClock
from cashback.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-12-01T09:00:00+01:00"
TYPES = ["SB3.0-1AV-41", "SB5.0-1AV-41", "HM-20"]
COMPANIES = ["200001", "200002", "200003", "200004"]


def _require(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run the tests with `make test` (it starts PostgreSQL and Kafka)")
    return value


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    return _require("CASHBACK_PG_DSN")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _require("CASHBACK_KAFKA_BOOTSTRAP")


@dataclass
class World:
    """One isolated deployment: a schema, topics, a catalog, enrolled companies."""

    tmp: Path
    pg_dsn: str
    schema: str
    bootstrap: str
    topic: str
    serials: list[str]
    env: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def settings(self) -> Settings:
        return Settings(**{k.removeprefix("CASHBACK_").lower(): v for k, v in self.env.items()
                           if k.startswith("CASHBACK_")})

    def engine(self) -> Engine:
        return build(self.settings(), clock=FixedClock(datetime.fromisoformat(NOW)))

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cashback.cli", "--now", NOW, *args], env=self.env,
                              cwd=ROOT, capture_output=True, text=True, check=check, timeout=300)

    def start_worker(self, *args: str, name: str = "worker") -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}-{len(self.processes)}.log").open("wb")
        proc = subprocess.Popen([sys.executable, "-m", "cashback.cli", "--now", NOW, "--log-level", "INFO", *args],
                                env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(proc)
        return proc

    def record(self, serial: str, company: str, **overrides: Any) -> dict[str, Any]:
        index = int(serial[-6:]) % len(TYPES)
        base = {"schema_version": 1, "serial": serial, "device_type": TYPES[index], "customer_no": company,
                "installed_on": "2026-06-01", "plant_id": "PLANT-1"}
        return {**base, **overrides}

    def produce(self, values: list[bytes | dict[str, Any]], keys: list[str | None] | None = None) -> None:
        """A plain kafka-python producer, as the portal would publish (not the project's code)."""
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=5)
        for i, value in enumerate(values):
            raw = value if isinstance(value, bytes) else json.dumps(value).encode()
            key = keys[i] if keys else (value.get("serial") if isinstance(value, dict) else None)
            producer.send(self.topic, key=key.encode() if key else None, value=raw)
        producer.flush()
        producer.close()

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.pg_dsn, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            cursor = conn.execute(statement, params)
            return [tuple(r) for r in cursor.fetchall()] if cursor.description else []

    def registered_serials(self) -> list[str]:
        """Serial of every Registered event (one per aggregate if nothing is doubled)."""
        rows = self.sql("SELECT state FROM cashback_events WHERE topic LIKE %s", ("%DeviceRegistration.Registered",))
        return [json.loads(bytes(r[0]))["serial"] for r in rows]

    def feed(self, n: int, start: int = 0) -> list[dict[str, Any]]:
        """n valid portal records for serials start… of the catalog, over the enrolled companies."""
        return [self.record(self.serials[start + i], COMPANIES[i % len(COMPANIES)]) for i in range(n)]

    def stored_feed_records(self) -> int:
        """Records of the feed topic covered by the offsets stored in the database."""
        rows = self.sql("SELECT notification_id FROM cashback_tracking WHERE application_name LIKE %s",
                        (f"kafka:{self.topic}:%",))
        return sum(r[0] + 1 for r in rows)

    def wait_for(
        self, predicate: Callable[[], bool], timeout: float = 120, what: str = "condition", interval: float = 0.3
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            for proc in self.processes:
                if proc.poll() not in (None, 0, -9, -15):
                    pytest.fail(f"a worker exited with {proc.returncode} while waiting for {what}: {self.logs()}")
            time.sleep(interval)
        pytest.fail(f"timed out waiting for {what}; logs: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp.glob("*.log")))

    def stop_all(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def write_catalog(path: Path, serials: list[str]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["serial", "device_type", "production_date", "country_of_sale"])
        for s in serials:
            writer.writerow([s, TYPES[int(s[-6:]) % len(TYPES)], "2025-06-01", "FR"])


def write_companies(path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_no", "name", "contact_email", "enrolled_on"])
        for c in COMPANIES:
            writer.writerow([c, f"Installateur {c}", f"contact@{c}.example", "2026-01-15"])


@pytest.fixture
def world(tmp_path: Path, pg_dsn: str, kafka_bootstrap: str) -> Iterator[World]:
    tag = uuid.uuid4().hex[:10]
    schema = f"t_{tag}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    serials = [f"4{n:09d}" for n in range(1, 30001)]
    write_catalog(tmp_path / "catalog.csv", serials)
    write_companies(tmp_path / "companies.csv")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CASHBACK_")},
        "CASHBACK_STORE": "postgres",
        "CASHBACK_PG_DSN": pg_dsn,
        "CASHBACK_PG_SCHEMA": schema,
        "CASHBACK_DATA_DIR": str(tmp_path / "data"),
        "CASHBACK_CAMPAIGN_FILE": str(ROOT / "examples" / "campaign.toml"),
        "CASHBACK_CATALOG_FILE": str(tmp_path / "catalog.csv"),
        "CASHBACK_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "CASHBACK_FEED_TOPIC": f"feed-{tag}",
        "CASHBACK_FEED_DEAD_LETTER_TOPIC": f"feed-{tag}.dlq",
        "CASHBACK_FEED_GROUP": f"group-{tag}",
        "CASHBACK_PAYOUT_TOPIC": f"payouts-{tag}",
        "CASHBACK_RESULTS_TOPIC": f"results-{tag}",
        "PYTHONUNBUFFERED": "1",
    }
    w = World(tmp=tmp_path, pg_dsn=pg_dsn, schema=schema, bootstrap=kafka_bootstrap, topic=env["CASHBACK_FEED_TOPIC"],
              serials=serials, env=env)
    from adapters.kafka_clients import ensure_topics

    ensure_topics(kafka_bootstrap, {w.topic: 4})
    w.cli("enrol", str(tmp_path / "companies.csv"))
    yield w
    w.stop_all()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    _delete_topics(kafka_bootstrap, [env[k] for k in ("CASHBACK_FEED_TOPIC", "CASHBACK_FEED_DEAD_LETTER_TOPIC",
                                                      "CASHBACK_PAYOUT_TOPIC", "CASHBACK_RESULTS_TOPIC")])


def _delete_topics(bootstrap: str, names: list[str]) -> None:
    """Best effort: a broker that keeps every test's topics grows slower to answer for its whole list."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=10).topics)
    doomed = [name for name in names if name in existing]
    for future in admin.delete_topics(doomed).values() if doomed else ():
        with contextlib.suppress(Exception):
            future.result()


def today() -> date:
    return datetime.fromisoformat(NOW).astimezone(UTC).date()
